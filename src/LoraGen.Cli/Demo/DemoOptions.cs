namespace LoraGen.Cli.Demo;

/// <summary>Settings of `loragen demo`.</summary>
internal sealed record DemoOptions
{
    /// <summary>A smaller base, fewer ranks: for CI.</summary>
    public bool Quick { get; init; }

    /// <summary>The report folder (report.md, results.json, plots, adapters).</summary>
    public string Output { get; init; } = "loragen-demo";

    public const int DefaultSeed = 42;

    public int Seed { get; init; } = DefaultSeed;

    public string Device { get; init; } = "auto";

    public DemoScale Scale => Quick ? DemoScale.Quick : DemoScale.Full;
}
