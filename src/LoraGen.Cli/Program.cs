using System.Globalization;
using LoraGen.Cli.Demo;

namespace LoraGen.Cli;

/// <summary>The `loragen` command. Exit codes: 0 success, 1 a failed run, 2 bad arguments.</summary>
public static class Program
{
    private const string Usage = """
        usage: loragen demo [--qlora] [--steps N] [--width W] [--device auto|cpu|cuda]
          demo   fine-tune a small frozen MLP with LoRA (--qlora: on an NF4 base) on CPU, merge, and check the result
        """;

    public static int Main(string[] args)
    {
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
                _ => throw new UsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (UsageException error)
        {
            Console.Error.WriteLine($"loragen: {error.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
    }

    /// <summary>A mistake in the command line (exit code 2), as opposed to a failure of the run itself.</summary>
    private sealed class UsageException(string message) : Exception(message);

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
