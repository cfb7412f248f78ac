namespace LoraGen.Cli.Demo;

/// <summary>Settings of `loragen demo`; the defaults finish in seconds on two CPU cores.</summary>
internal sealed record DemoOptions
{
    public int Width { get; init; } = 128;
    public bool QLora { get; init; }
    public int Steps { get; init; } = 800;
    public int Batch { get; init; } = 128;
    public double LearningRate { get; init; } = 1e-2;
    public long Seed { get; init; } = 42;
    public string Device { get; init; } = "auto";
}
