using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Cli.Demo;
using LoraGen.Cli.Serve;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using LoraGen.Serving;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// `loragen serve` end to end: completion tokens per second through real HTTP streams at 1, 8 and 64 concurrent
/// clients, on the demo's base (restored from the cache `loragen demo` fills, or pretrained as the demo does) with 8 adapters, requests spread over them and the base.
/// </summary>
internal static class ServerBenchmark
{
    private const int MaxTokens = 16;
    private static readonly string[] Prompts = ["copy:abcde>", "rev:lorax>", "pal:vllm>", "twice:serve>"];

    public static void Run(bool quick) => RunAsync(quick).GetAwaiter().GetResult();

    private static async Task RunAsync(bool quick)
    {
        // The demo's own base: restored from the cache `loragen demo` fills, or pretrained here as the demo would.
        var (trainWords, _) = TaskLanguage.Words(DemoScale.Full.TrainWords, DemoScale.Full.HeldOutWords, DemoOptions.DefaultSeed);
        string folder = DemoBaseModel.Prepare(DemoScale.Full, DemoOptions.DefaultSeed, trainWords, CPU).Folder;
        var adapters = Directory.CreateTempSubdirectory("loragen-bench-server-");
        try
        {
            var names = Enumerable.Range(0, 8).Select(i => $"client{i}").ToArray();
            for (int i = 0; i < names.Length; i++)
            {
                using var model = HfModels.Load(folder);
                manual_seed(i);
                RandomAdapters.Add(model, "default");
                PeftAdapter.Save(model, Path.Combine(adapters.FullName, names[i]));
            }
            using var served = ServedModel.Open(folder, new ServingOptions(MaxRunning: 64));
            foreach (var name in names) served.RegisterAdapter(name, Path.Combine(adapters.FullName, name));
            await using var server = await OpenAiServer.StartAsync(served, new ServeOptions { Port = 0 });
            using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(5) };
            int perStream = quick ? 2 : 4;
            await Measure(http, names, 4, 1);   // warm: JIT, every adapter loaded once
            var rates = new List<(int Streams, double TokensPerSecond)>();
            foreach (int streams in new[] { 1, 8, 64 })
                rates.Add((streams, await Measure(http, names, streams, streams == 1 ? perStream * 4 : perStream)));
            Console.WriteLine(SideBySide.Format($"loragen serve on the demo base ({Path.GetFileName(folder)}), 8 adapters + base, {MaxTokens} tokens a request, streamed over HTTP:"));
            Console.WriteLine(SideBySide.Format($"  {string.Join(" | ", rates.Select(r => SideBySide.Format($"{r.Streams} stream{(r.Streams == 1 ? "" : "s")} {r.TokensPerSecond:F0} tokens/s ({r.TokensPerSecond / rates[0].TokensPerSecond:F2}x)")))}"));
        }
        finally
        {
            adapters.Delete(recursive: true);
        }
    }

    /// <summary>Completion tokens per second with <paramref name="streams"/> clients, each sending <paramref name="requests"/> streamed requests in turn.</summary>
    private static async Task<double> Measure(HttpClient http, string[] adapters, int streams, int requests)
    {
        var clock = Stopwatch.StartNew();
        var tokens = await Task.WhenAll(Enumerable.Range(0, streams).Select(async s =>
        {
            int produced = 0;
            for (int r = 0; r < requests; r++)
            {
                int k = s * requests + r;
                string? model = k % (adapters.Length + 1) == adapters.Length ? null : adapters[k % (adapters.Length + 1)];
                string body = JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["model"] = model, ["prompt"] = Prompts[k % Prompts.Length], ["max_tokens"] = MaxTokens, ["temperature"] = 0,
                    ["stream"] = true, ["stream_options"] = new { include_usage = true },
                });
                using var response = await http.PostAsync("v1/completions", new StringContent(body, Encoding.UTF8, "application/json"));
                response.EnsureSuccessStatusCode();
                string usage = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^2]["data: ".Length..];
                produced += JsonDocument.Parse(usage).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
            }
            return produced;
        }));
        return tokens.Sum() / clock.Elapsed.TotalSeconds;
    }
}
