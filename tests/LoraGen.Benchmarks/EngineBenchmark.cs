using System.Diagnostics;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Generation;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Serving;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// The continuous-batching engine on a demo-sized Llama (4 layers, hidden 128, vocab 512): tokens per second at 1, 8
/// and 64 concurrent greedy streams, each stream with its own of 8 adapters (r=8, all linear), 24-token prompts, 32 new tokens.
/// </summary>
internal static class EngineBenchmark
{
    public static void Run(bool quick)
    {
        string folder = Directory.CreateTempSubdirectory("loragen-engine-bench-").FullName;
        try
        {
            manual_seed(3);
            using var model = new LlamaForCausalLM(new ModelConfig("llama", ModelFamily.Llama, 128, 384, 4, 4, 2, 512, false));
            model.eval();
            var names = Enumerable.Range(0, 8).Select(i => $"client{i}").ToArray();
            foreach (var name in names)
            {
                RandomAdapters.Add(model, name, scale: 0.05);
                PeftAdapter.Save(model, Path.Combine(folder, name), name);
            }
            foreach (var name in names) ModelAdapters.DeleteAdapter(model, name);
            var pool = new AdapterPool(model);
            using var engine = new GenerationEngine(model, pool, 512, new ServingOptions(MaxRunning: 64, MaxWaiting: 64));
            foreach (var name in names) pool.Register(name, Path.Combine(folder, name));
            var random = new Random(4);
            var line = new List<string>();
            foreach (int streams in new[] { 1, 8, 64 })
            {
                var prompts = Enumerable.Range(0, streams).Select(_ => Enumerable.Range(0, 24).Select(_ => (long)random.Next(512)).ToArray()).ToArray();
                var clock = Stopwatch.StartNew();
                var runs = prompts.Select((prompt, i) => Drain(engine.Submit(prompt, names[i % names.Length], new GenerationOptions(MaxNewTokens: 32)))).ToArray();
                long tokens = Task.WhenAll(runs).Result.Sum();
                line.Add(SideBySide.Format($"{streams} stream{(streams == 1 ? "" : "s")} {tokens / clock.Elapsed.TotalSeconds:F0} tokens/s"));
            }
            Console.WriteLine($"engine on a 4-layer Llama of 128, every stream its own adapter, 24-token prompts, 32 new tokens: {string.Join(" | ", line)}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<long> Drain(System.Threading.Channels.ChannelReader<GeneratedToken> reader)
    {
        long count = 0;
        await foreach (var _ in reader.ReadAllAsync()) count++;
        return count;
    }
}
