using LoraGen.Adapters;

namespace LoraGen.Cli.Demo;

/// <summary>One way of fine-tuning the base in the comparison: full, or an adapter method at a rank.</summary>
/// <param name="Method">full, lora, dora or qlora, as `loragen train --method` spells them.</param>
internal sealed record FineTuneMethod(string Label, string Method, int Rank)
{
    /// <summary>Full fine-tuning takes a smaller step than the adapters, whose B starts at zero (the usual settings).</summary>
    public double LearningRate => Method == "full" ? 3e-3 : 1e-2;

    /// <summary>alpha = 2r keeps the scaling alpha/r the same at every rank, so ranks compare on capacity alone.</summary>
    public PeftLoraConfig Adapter => new() { R = Rank, LoraAlpha = 2 * Rank, TargetModules = ModuleSelector.AllLinear };

    public static FineTuneMethod Full => new("full", "full", 0);

    public static FineTuneMethod Lora(int rank) => new($"LoRA r={rank}", "lora", rank);

    public static IReadOnlyList<FineTuneMethod> All(DemoScale scale) =>
        [Full, .. scale.Ranks.Select(Lora), new("DoRA r=8", "dora", 8), new("QLoRA r=8", "qlora", 8)];
}
