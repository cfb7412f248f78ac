using LoraGen.Adapters;
using LoraGen.Layers;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// A batch of 64 rows, each with its own of 64 all-linear adapters (r=8 and r=16 alternating) on a 4-layer Llama of
/// 512, decode-shaped (one token per row) and prefill-shaped (32 tokens per row): segment and gather against the same
/// batch with one adapter for every row, and against a naive loop that activates one adapter at a time and runs its
/// rows. Gather is timed with its stacked weights rebuilt every forward (the rows change at every step) and kept
/// for the scope (steady rows). Then the decode shape again on one decoder layer as wide as Llama-2-70B's (8192), where
/// the base's bytes, not the adapters', dominate a step.
/// </summary>
internal static class MixedBatchBenchmark
{
    private const int Rows = 64;

    public static void Run(bool quick)
    {
        manual_seed(2);
        var names = Enumerable.Range(0, Rows).Select(i => $"client{i}").ToArray();
        using var model = WithAdapters(new ModelConfig("llama", ModelFamily.Llama, 512, 1408, 4, 8, 4, 4096, false), names);
        using var _ = no_grad();
        int rounds = quick ? 3 : 7;
        foreach (var (shape, tokens) in new[] { ("decode-shaped", 1), ("prefill-shaped", 32) })
        {
            using var ids = randint(0, 4096, [Rows, tokens]);
            void Forward(Tensor batch)
            {
                using var logits = model.forward(batch);
            }
            void Mixed(MixedBatchStrategy strategy)
            {
                using (ModelAdapters.UseRowAdapters(model, names, strategy)) Forward(ids);
            }
            void Naive()
            {
                for (int i = 0; i < Rows; i++)
                {
                    model.SetActiveAdapters(names[i]);                             // swap, then the adapter's rows alone
                    using var row = ids.narrow(0, i, 1);
                    Forward(row);
                }
            }
            model.SetActiveAdapters(names[0]);
            var ms = SideBySide.MedianMilliseconds(1, rounds, () => Forward(ids), () => Mixed(MixedBatchStrategy.Segment), () => Mixed(MixedBatchStrategy.Gather), Naive);
            double steady;
            using (ModelAdapters.UseRowAdapters(model, names, MixedBatchStrategy.Gather))          // held: its stacked weights are built once
                steady = SideBySide.MedianMilliseconds(1, rounds, () => Forward(ids))[0];
            Console.WriteLine(SideBySide.Format($"{shape} batch, {Rows} rows x {tokens} token(s), 4-layer Llama of 512 (median of {rounds}): one adapter for all rows {ms[0]:F1} ms"));
            Console.WriteLine(SideBySide.Format($"  64 distinct adapters, throughput against one adapter: segment {ms[1]:F1} ms ({ms[0] / ms[1]:F2}x) | gather rebuilding its stacks every forward {ms[2]:F1} ms ({ms[0] / ms[2]:F2}x) | gather, stacks kept while the rows stay {steady:F1} ms ({ms[0] / steady:F2}x)"));
            Console.WriteLine(SideBySide.Format($"  naive loop (activate each adapter, run its row) {ms[3]:F1} ms: the best mixed batch is {ms[3] / Math.Min(Math.Min(ms[1], ms[2]), steady):F1}x faster"));
        }
        Wide(names, rounds);
    }

    /// <summary>Decode-shaped on one decoder layer of width 8192 (its MLP as wide, to fit in memory), where the base weights far outweigh the adapters.</summary>
    private static void Wide(string[] names, int rounds)
    {
        using var model = WithAdapters(new ModelConfig("llama", ModelFamily.Llama, 8192, 8192, 1, 64, 64, 256, false), names);
        using var ids = randint(0, 256, [Rows, 1]);
        void Forward()
        {
            using var logits = model.forward(ids);
        }
        model.SetActiveAdapters(names[0]);
        double one = SideBySide.MedianMilliseconds(1, rounds, Forward)[0], steady;
        using (ModelAdapters.UseRowAdapters(model, names, MixedBatchStrategy.Gather))
            steady = SideBySide.MedianMilliseconds(1, rounds, Forward)[0];
        Console.WriteLine(SideBySide.Format($"decode-shaped, {Rows} rows x 1 token, one layer of width 8192 (Llama-2-70B's): one adapter for all rows {one:F1} ms | 64 distinct adapters, gather with its stacks kept {steady:F1} ms ({one / steady:F2}x)"));
    }

    /// <summary>A model of <paramref name="config"/> with one random adapter per name, r=8 and r=16 alternating; prints what a decode step reads.</summary>
    private static LlamaForCausalLM WithAdapters(ModelConfig config, string[] names)
    {
        var model = new LlamaForCausalLM(config);
        for (int i = 0; i < names.Length; i++) RandomAdapters.Add(model, names[i], rank: i % 2 == 0 ? 8 : 16);
        model.eval();
        long adapters = RandomAdapters.Bytes(model), all = model.parameters().Sum(p => p.NumberOfElements * p.ElementSize);
        Console.WriteLine(SideBySide.Format($"(hidden {config.HiddenSize}, {config.Layers} layer(s): base weights {(all - adapters) / 1e6:F0} MB, the {names.Length} adapters {adapters / 1e6:F0} MB)"));
        return model;
    }
}
