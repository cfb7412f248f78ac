using LoraGen.Adapters;

namespace LoraGen.Cli.Demo;

/// <summary>One way of fine-tuning the base in the comparison: full, or an adapter method at a rank.</summary>
/// <param name="Method">full, lora, dora or qlora, as `loragen train --method` spells them.</param>
internal sealed record FineTuneMethod(string Label, string Method, int Rank)
{
    /// <summary>
    /// One alpha for every rank, as the LoRA paper does: with Adam, alpha/r keeps the update's size about the same at
    /// any rank, so one learning rate serves them all (alpha = 2r instead grows the update with r: r=64 diverged).
    /// </summary>
    public const int Alpha = 16;

    public PeftLoraConfig Adapter => new() { R = Rank, LoraAlpha = Alpha, TargetModules = ModuleSelector.AllLinear };

    public static FineTuneMethod Full => new("full", "full", 0);

    public static FineTuneMethod Lora(int rank) => new($"LoRA r={rank}", "lora", rank);

    public static IReadOnlyList<FineTuneMethod> All(DemoScale scale) =>
        [Full, .. scale.Ranks.Select(Lora), new("DoRA r=8", "dora", 8), new("QLoRA r=8", "qlora", 8)];
}
