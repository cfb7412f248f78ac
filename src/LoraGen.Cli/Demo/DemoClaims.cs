using System.Globalization;

namespace LoraGen.Cli.Demo;

/// <summary>A claim of the seed, whether this run's figures bear it out, and the figures.</summary>
internal sealed record Claim(string Statement, bool Held, string Evidence);

/// <summary>The seed's claims judged against the fine-tunes of this run; a claim that did not hold is said so, with its numbers.</summary>
internal static class DemoClaims
{
    /// <summary>Accuracies closer than this count as "about the same" (two or three held-out prompts at the demo's sizes).</summary>
    public const double Tolerance = 0.10;

    private const string RssNote = "; at this size the runtime and libtorch, not the weights, set the peak, so 4-bit weights cannot show here";

    public static IReadOnlyList<Claim> Judge(IReadOnlyList<FineTuneResult> results)
    {
        var full = results.Single(r => r.Method == "full");
        var lora = results.Where(r => r.Method == "lora").OrderBy(r => r.Rank).ToArray();
        var lora8 = lora.Single(r => r.Rank == 8);
        var qlora = results.Single(r => r.Method == "qlora");
        double best = lora.Max(r => r.Accuracy);
        int plateau = lora.First(r => r.Accuracy >= best - Tolerance).Rank;
        return
        [
            new("LoRA fine-tunes about as well as full fine-tuning", lora8.Accuracy >= full.Accuracy - Tolerance, Text(
                $"exact match: LoRA r=8 {lora8.Accuracy:0%} vs full {full.Accuracy:0%}, training {100.0 * lora8.TrainableParameters / full.TrainableParameters:F2}% of the parameters with {(double)lora8.GradientOptimizerBytes / full.GradientOptimizerBytes:0.0%} of full's gradient and optimizer memory")),
            new("the rank can be small: accuracy plateaus at a low rank", plateau <= 8, Text(
                $"{string.Join(", ", lora.Select(r => $"r={r.Rank}: {r.Accuracy:0%}"))}; the smallest rank within {Tolerance:0%} of the best is r={plateau}")),
            new("QLoRA holds the weights in less memory than LoRA", qlora.WeightBytes < lora8.WeightBytes, Text(
                $"weights and buffers: QLoRA r=8 {qlora.WeightBytes / 1e6:F2} MB vs LoRA r=8 {lora8.WeightBytes / 1e6:F2} MB")),
            new("QLoRA's peak process memory is below LoRA's", qlora.PeakRssBytes < lora8.PeakRssBytes, Text(
                $"peak RSS: QLoRA r=8 {qlora.PeakRssBytes / 1e6:F0} MB vs LoRA r=8 {lora8.PeakRssBytes / 1e6:F0} MB{(qlora.PeakRssBytes < lora8.PeakRssBytes ? "" : RssNote)}")),
        ];
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
