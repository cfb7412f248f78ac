using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// Forward of a 4096×4096 Linear on 512 tokens: the base alone, with an unmerged r=16 adapter, and merged.
/// The adapter adds 2·r·(in+out)/(2·in·out) = 0.8% FLOPs, so the target is ≤ 1.03× unmerged and 1.00× merged.
/// Then a bf16 base with peft's fp32 adapter: the input is cast to fp32 for the adapter, the base output to fp32
/// to add the term, and the sum rounded back to bf16.
/// </summary>
internal static class ForwardBenchmark
{
    public static void Run(bool quick)
    {
        const int features = 4096, tokens = 512, rank = 16;
        manual_seed(0);
        using var baseLayer = nn.Linear(features, features);
        using var lora = new LoraLinear(baseLayer, new LoraConfig(rank, 2 * rank), "proj");
        using (no_grad())
        {
            nn.init.normal_(lora.Adapter("default").B.weight, 0, 0.01);   // a live adapter, not B = 0
        }
        lora.eval();
        using var x = randn(tokens, features);
        using var _ = no_grad();

        void Base() { using var y = baseLayer.forward(x); }
        void Adapted() { using var y = lora.forward(x); }
        int rounds = quick ? 5 : 30;
        var unmerged = SideBySide.MedianMilliseconds(2, rounds, Base, Adapted);
        lora.Merge();
        var merged = SideBySide.MedianMilliseconds(2, rounds, Base, Adapted);

        Console.WriteLine(SideBySide.Format($"forward {features}x{features}, {tokens} tokens, r={rank} (median of {rounds}):"));
        Console.WriteLine(SideBySide.Format($"  base {unmerged[0]:F2} ms | LoRA unmerged {unmerged[1]:F2} ms | ratio {unmerged[1] / unmerged[0]:F3}x (target <= 1.03)"));
        Console.WriteLine(SideBySide.Format($"  base {merged[0]:F2} ms | LoRA merged   {merged[1]:F2} ms | ratio {merged[1] / merged[0]:F3}x (target 1.00)"));
        SixteenBit(quick, features, tokens, rank);
    }

    private static void SixteenBit(bool quick, int features, int tokens, int rank)
    {
        manual_seed(0);
        using var baseLayer = nn.Linear(features, features, dtype: ScalarType.BFloat16);
        using var lora = new LoraLinear(baseLayer, new LoraConfig(rank, 2 * rank), "proj");   // fp32 adapter, as peft
        using (no_grad()) nn.init.normal_(lora.Adapter("default").B.weight, 0, 0.01);
        lora.eval();
        using var x = randn(tokens, features, dtype: ScalarType.BFloat16);
        using var _ = no_grad();

        void Base() { using var y = baseLayer.forward(x); }
        void Adapted() { using var y = lora.forward(x); }
        int rounds = quick ? 3 : 10;
        var ms = SideBySide.MedianMilliseconds(1, rounds, Base, Adapted);
        Console.WriteLine(SideBySide.Format($"  bf16 base {ms[0]:F2} ms | fp32 adapter on it {ms[1]:F2} ms | ratio {ms[1] / ms[0]:F3}x (median of {rounds})"));
    }
}
