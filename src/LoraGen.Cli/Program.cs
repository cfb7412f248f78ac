using System.Globalization;
using LoraGen.Cli.Demo;
using LoraGen.Checkpoints;
using LoraGen.Cli.Inspect;
using LoraGen.Cli.Plan;
using LoraGen.Planning;
using Spectre.Console;

namespace LoraGen.Cli;

/// <summary>The `loragen` command. Exit codes: 0 success, 1 a failed run, 2 bad arguments.</summary>
public static class Program
{
    private const string Usage = """
        usage: loragen demo [--qlora] [--steps N] [--width W] [--device auto|cpu|cuda]
               loragen plan (--config PATH | --preset NAME) --rank R [--alpha A] --targets LIST|all-linear
                            [--method full|lora|dora|qlora] [--batch B --seq S] [--precision mixed|fp32] [--format text|json]
               loragen plan --explain
               loragen inspect PATH
          demo   fine-tune a small frozen MLP with LoRA (--qlora: on an NF4 base) on CPU, merge, and check the result
          plan   parameter counts (peft's line), memory and compute of a fine-tuning method for a model
          inspect  the tensors of a safetensors file, a checkpoint folder or a peft adapter folder
        """;

    public static int Main(string[] args)
    {
        // Tables go wherever Console.Out points now (a pipe, a file, a test's writer).
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return args[0] switch
            {
                "demo" => DemoCommand.Run(ParseDemo(args[1..])),
                "plan" => PlanCommand.Run(PlanOptions.Parse(args[1..])),
                "inspect" => InspectCommand.Run(args[1..]),
                "measure-step" => MeasureStepCommand.Run(args[1..]),     // used by the planner's tests; see the class
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException error)
        {
            Console.Error.WriteLine($"loragen: {Terminal.Printable(error.Message)} (loragen --help shows the usage)");
            return 2;
        }
        catch (Exception error) when (error is PlanException or CheckpointException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            // Bad input of any kind: one line naming the file, field or argument at fault.
            Console.Error.WriteLine($"loragen {Terminal.Printable(args[0])}: {Terminal.Printable(error.Message.Split(" (Parameter '")[0])}");
            return 2;
        }
        catch (Exception error) when (Environment.GetEnvironmentVariable("LORAGEN_DEBUG") != "1")
        {
            // A bug of ours: still one line (LORAGEN_DEBUG=1 shows the stack trace).
            Console.Error.WriteLine($"loragen {Terminal.Printable(args[0])}: internal error ({error.GetType().Name}): {Terminal.Printable(error.Message)}");
            return 1;
        }
    }

    private static DemoOptions ParseDemo(string[] args)
    {
        var options = new DemoOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{flag} needs a value");
            int Positive() => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n : throw new UsageException($"{flag} needs a positive integer; got '{args[i]}'");
            options = flag switch
            {
                "--qlora" => options with { QLora = true },
                "--steps" => options with { Steps = Positive() },
                "--width" => options with { Width = Positive() },
                "--device" => options with { Device = Value() },
                _ => throw new UsageException($"unknown option '{flag}' for demo"),
            };
        }
        return options;
    }
}
