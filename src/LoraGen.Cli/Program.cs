using LoraGen.Checkpoints;
using LoraGen.Cli.Demo;
using LoraGen.Cli.Generate;
using LoraGen.Cli.Merge;
using LoraGen.Cli.Train;
using LoraGen.Cli.Inspect;
using LoraGen.Cli.Plan;
using LoraGen.Cli.Serve;
using LoraGen.Models.Data;
using LoraGen.Planning;
using Spectre.Console;
using Spectre.Console.Cli;

namespace LoraGen.Cli;

/// <summary>The `loragen` command. Exit codes: 0 success, 1 a failed run, 2 bad arguments or bad input.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Tables and help go wherever Console.Out points now (a pipe, a file, a test's writer).
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("loragen");
            config.ConfigureConsole(AnsiConsole.Console);
            config.PropagateExceptions();                 // one line per mistake, below: no framed error, no stack trace
            config.UseStrictParsing();
            config.AddCommand<DemoCommand>("demo")
                .WithDescription("the main job: pretrain a small language model, teach it a new skill by full fine-tuning, LoRA, DoRA and QLoRA, measure, merge, swap, report");
            config.AddCommand<PlanCommand>("plan")
                .WithDescription("parameter counts (peft's line), memory and compute of a fine-tuning method for a model")
                .WithExample("plan", "--preset", "llama-3-8b", "--rank", "16", "--targets", "all-linear");
            config.AddCommand<TrainCommand>("train")
                .WithDescription("fine-tune a model folder on JSON Lines data (LoRA, DoRA, QLoRA or full), with checkpoints that resume exactly")
                .WithExample("train", "--model", "path/to/model", "--data", "train.jsonl", "--rank", "8", "--steps", "200");
            config.AddCommand<GenerateCommand>("generate")
                .WithDescription("text from a model folder (and a peft adapter), streamed token by token")
                .WithExample("generate", "--model", "path/to/model", "--adapter", "path/to/adapter", "--prompt", "Hello");
            config.AddCommand<MergeCommand>("merge")
                .WithDescription("merge a peft adapter into its model and write a plain Hugging Face folder")
                .WithExample("merge", "--model", "path/to/model", "--adapter", "path/to/adapter", "--out", "path/to/merged");
            config.AddCommand<ServeCommand>("serve")
                .WithDescription("an OpenAI-compatible server (vLLM's routes) for one base model and many adapters, chosen per request by the model field")
                .WithExample("serve", "--model", "path/to/model", "--adapter", "sql=path/to/adapter", "--port", "8000");
            config.AddCommand<InspectCommand>("inspect")
                .WithDescription("the tensors of a safetensors file, a checkpoint folder or a peft adapter folder");
            config.AddCommand<MeasureStepCommand>("measure-step").IsHidden();   // the planner's tests measure a real step with it
        });
        try
        {
            return app.Run(args);
        }
        catch (Exception error) when (error is UsageException or CommandAppException)
        {
            Console.Error.WriteLine($"loragen: {Terminal.Printable(OneLine(error.Message))} (loragen --help shows the usage)");
            return 2;
        }
        catch (Exception error) when (error is PlanException or CheckpointException or DataException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            // Bad input of any kind: one line naming the file, field or argument at fault.
            Console.Error.WriteLine($"loragen {Terminal.Printable(Command(args))}: {Terminal.Printable(OneLine(error.Message.Split(" (Parameter '")[0]))}");
            return 2;
        }
        catch (Exception error) when (Environment.GetEnvironmentVariable("LORAGEN_DEBUG") != "1")
        {
            // A bug of ours: still one line (LORAGEN_DEBUG=1 shows the stack trace).
            Console.Error.WriteLine($"loragen {Terminal.Printable(Command(args))}: internal error ({error.GetType().Name}): {Terminal.Printable(OneLine(error.Message))}");
            return 1;
        }
    }

    private static string Command(string[] args) => args.Length > 0 ? args[0] : "";

    private static string OneLine(string message) => string.Join(" ", message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
}
