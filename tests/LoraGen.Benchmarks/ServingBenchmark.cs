using System.Diagnostics;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// Serving many adapters on one base (a 4-layer Llama of 512, 8 all-linear adapters of r=8): a 16-row batch in which
/// every row has its own adapter, by segment and by gather, against the same batch with one adapter for all rows;
/// and switching the adapter of the next batch by activation (hot swap) against unmerge-and-merge (merge swap).
/// </summary>
internal static class ServingBenchmark
{
    public static void Run(bool quick)
    {
        MixedBatchBenchmark.Run(quick);
        EngineBenchmark.Run(quick);
        manual_seed(1);
        using var model = new LlamaForCausalLM(new ModelConfig("llama", ModelFamily.Llama, 512, 1408, 4, 8, 4, 4096, false));
        var names = Enumerable.Range(0, 8).Select(i => $"client{i}").ToArray();
        foreach (var name in names) RandomAdapters.Add(model, name);
        model.eval();
        using var ids = randint(0, 4096, [16, 64]);
        string?[] rows = Enumerable.Range(0, 16).Select(i => (string?)names[i % names.Length]).ToArray();
        using var _ = no_grad();
        void Forward()
        {
            using var logits = model.forward(ids);
        }
        void Mixed(MixedBatchStrategy strategy)
        {
            using (ModelAdapters.UseRowAdapters(model, rows, strategy)) Forward();
        }
        int rounds = quick ? 3 : 7;
        model.SetActiveAdapters(names[0]);
        var ms = SideBySide.MedianMilliseconds(1, rounds, Forward, () => Mixed(MixedBatchStrategy.Segment), () => Mixed(MixedBatchStrategy.Gather));
        Console.WriteLine(SideBySide.Format($"a 16 x 64-token batch on a 4-layer Llama of 512 (median of {rounds}): one adapter for all rows {ms[0]:F0} ms"));
        Console.WriteLine(SideBySide.Format($"  every row its own of 8 adapters: segment {ms[1]:F0} ms ({ms[1] / ms[0]:F2}x) | gather {ms[2]:F0} ms ({ms[2] / ms[0]:F2}x)"));

        var clock = new Stopwatch();
        double Swap(Action swap)
        {
            var times = new List<double>();
            for (int i = 0; i < (quick ? 5 : 21); i++)
            {
                clock.Restart();
                swap();
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            return times.Order().ElementAt(times.Count / 2);
        }
        int next = 0;
        double hot = Swap(() => model.SetActiveAdapters(names[next++ % names.Length]));
        model.SetActiveAdapters(names[0]);
        model.MergeLora();
        double merge = Swap(() =>
        {
            model.UnmergeLora();
            model.SetActiveAdapters(names[next++ % names.Length]);
            model.MergeLora();
        });
        Console.WriteLine(SideBySide.Format($"  switching the next batch's adapter: hot swap (activate) {hot:F3} ms | merge swap (unmerge, activate, merge) {merge:F1} ms"));
        model.UnmergeLora();

        // The adapter pool's two tiers: an adapter evicted from the model comes back from its host copy, or (past the
        // host budget) from its folder.
        var folder = Directory.CreateTempSubdirectory("loragen-bench-reload-");
        try
        {
            PeftAdapter.Save(model, folder.FullName, names[1]);
            ModelAdapters.DeleteAdapter(model, names[1]);
            using var host = PeftAdapter.Read(folder.FullName);
            double fromHost = Swap(() =>
            {
                PeftAdapter.Load(model, host, names[1]);
                ModelAdapters.DeleteAdapter(model, names[1]);
            });
            double fromFolder = Swap(() =>
            {
                PeftAdapter.Load(model, folder.FullName, names[1]);
                ModelAdapters.DeleteAdapter(model, names[1]);
            });
            Console.WriteLine(SideBySide.Format($"  an evicted r=8 adapter ({host.Bytes / 1e6:F1} MB) back into the model: from its host copy {fromHost:F2} ms | from its folder {fromFolder:F2} ms ({fromFolder / fromHost:F2}x)"));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
