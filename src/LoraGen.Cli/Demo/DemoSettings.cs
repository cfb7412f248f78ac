using System.ComponentModel;
using LoraGen.Cli.Options;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Demo;

/// <summary>`loragen demo`'s command line, read into <see cref="DemoOptions"/>.</summary>
internal sealed class DemoSettings : ValidatedSettings<DemoOptions>
{
    [CommandOption("--quick"), Description("a smaller base and LoRA ranks 1 and 8 only (about a minute on two cores)")]
    public bool Quick { get; init; }

    [CommandOption("--out <DIR>"), Description("the report folder: report.md, results.json, plots, adapters (default loragen-demo)")]
    public string? Out { get; init; }

    [CommandOption("--seed <N>"), Description("seeds the corpus, the base's pretraining and every fine-tune (default 42)")]
    public string? Seed { get; init; }

    [CommandOption("--device <DEVICE>"), Description(OptionValue.DeviceHelp)]
    public string? Device { get; init; }

    protected override DemoOptions Read() => new()
    {
        Quick = Quick,
        Output = Out is { Length: > 0 } ? Out : Out is null ? "loragen-demo" : throw new UsageException("--out needs a folder"),
        Seed = OptionValue.Int("--seed", Seed, fallback: DemoOptions.DefaultSeed, min: 0),
        Device = OptionValue.Device(Device),
    };
}
