using System.ComponentModel;
using LoraGen.Cli.Options;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Demo;

/// <summary>`loragen demo`'s command line, read into <see cref="DemoOptions"/>.</summary>
internal sealed class DemoSettings : ValidatedSettings<DemoOptions>
{
    [CommandOption("--qlora"), Description("fine-tune on a 4-bit NF4 base")]
    public bool QLora { get; init; }

    [CommandOption("--steps <N>"), Description("optimizer steps (default 800)")]
    public string? Steps { get; init; }

    [CommandOption("--width <W>"), Description("the MLP's width (default 128, at most 4096)")]
    public string? Width { get; init; }

    [CommandOption("--device <DEVICE>"), Description("auto, cpu or cuda (default auto: CUDA when available)")]
    public string? Device { get; init; }

    protected override DemoOptions Read() => new()
    {
        QLora = QLora,
        Steps = OptionValue.Int("--steps", Steps, fallback: 800, min: 1, max: 1_000_000),
        Width = OptionValue.Int("--width", Width, fallback: 128, min: 1, max: 4096),
        Device = OptionValue.Choice("--device", Device, "auto", "auto", "cpu", "cuda"),
    };
}
