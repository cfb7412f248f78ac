using System.Threading.Channels;
using LoraGen.Layers;
using LoraGen.Models.Generation;
using LoraGen.Serving;

namespace LoraGen.Tests.Serving;

/// <summary>Continuous batching: every row as if it ran alone, and the engine's refusals, cancellation and adapter pool.</summary>
[Collection(ServingCollection.Name)]
public class GenerationEngineTests(ServingFolders folders)
{
    private static readonly long[] EndTokens = [ServingFolders.ImEnd];

    private ServedModel Open(ServingOptions options, int adapters = ServingFolders.AdapterCount)
    {
        var served = ServedModel.Open(folders.Model, options);
        for (int i = 0; i < adapters; i++) served.RegisterAdapter(ServingFolders.AdapterName(i), folders.AdapterFolder(i));
        return served;
    }

    private static async Task<(long[] Tokens, string? Reason)> Collect(ChannelReader<GeneratedToken> reader, CancellationToken cancel = default)
    {
        var tokens = new List<long>();
        string? reason = null;
        await foreach (var token in reader.ReadAllAsync(cancel))
        {
            tokens.Add(token.Id);
            reason = token.FinishReason;
        }
        return (tokens.ToArray(), reason);
    }

    private static long[] Prompt(Random random, int length) => Enumerable.Range(0, length).Select(_ => (long)random.Next(26)).ToArray();

    [Theory(Timeout = 600_000)]
    [InlineData(MixedBatchStrategy.Gather)]
    [InlineData(MixedBatchStrategy.Segment)]
    public async Task Every_row_of_128_concurrent_requests_over_32_adapters_equals_its_solo_generation(MixedBatchStrategy strategy)
    {
        using var served = Open(new ServingOptions(MaxRunning: 48, MaxWaiting: 128, Strategy: strategy));
        var random = new Random(5);
        var requests = Enumerable.Range(0, 128).Select(i => (
            Adapter: i % 33 == 32 ? null : ServingFolders.AdapterName(i % 33),
            Prompt: Prompt(random, 1 + random.Next(30)),                           // different cache lengths in every batch
            Options: new GenerationOptions(MaxNewTokens: 4 + random.Next(24), EndTokens: EndTokens))).ToArray();
        var results = await Task.WhenAll(requests.Select(r => Collect(served.Engine.Submit(r.Prompt, r.Adapter, r.Options))));

        using var reference = folders.Reference();
        for (int i = 0; i < requests.Length; i++)
        {
            var expected = ServingFolders.Solo(reference, requests[i].Adapter, requests[i].Prompt, requests[i].Options);
            Assert.True(expected.SequenceEqual(results[i].Tokens), $"request {i} ({requests[i].Adapter ?? "base"}): [{string.Join(",", results[i].Tokens)}], alone [{string.Join(",", expected)}]");
            Assert.Equal(expected[^1] == ServingFolders.ImEnd ? "stop" : "length", results[i].Reason);
        }
        // The adapters change what is generated, so rows given the wrong adapter would fail above.
        var prompt = requests[0].Prompt;
        var options = new GenerationOptions(MaxNewTokens: 12);
        var distinct = requests.Select(r => r.Adapter).Distinct().Select(a => string.Join(",", ServingFolders.Solo(reference, a, prompt, options))).Distinct().Count();
        Assert.True(distinct > 20, $"only {distinct} distinct generations over 33 adapters");
    }

    [Fact(Timeout = 120_000)]
    public async Task Sampled_rows_follow_their_own_seed_temperature_and_top_p()
    {
        using var served = Open(new ServingOptions(), adapters: 4);
        var random = new Random(6);
        var requests = Enumerable.Range(0, 12).Select(i => (
            Adapter: i % 5 == 4 ? null : ServingFolders.AdapterName(i % 5),
            Prompt: Prompt(random, 2 + random.Next(10)),
            Options: new GenerationOptions(MaxNewTokens: 16, Temperature: 0.5 + i % 3 * 0.5, TopP: i % 2 == 0 ? 1.0 : 0.8, Seed: i))).ToArray();
        var results = await Task.WhenAll(requests.Select(r => Collect(served.Engine.Submit(r.Prompt, r.Adapter, r.Options))));
        using var reference = folders.Reference();
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(ServingFolders.Solo(reference, requests[i].Adapter, requests[i].Prompt, requests[i].Options), results[i].Tokens);
        var reseeded = await Collect(served.Engine.Submit(requests[0].Prompt, requests[0].Adapter, requests[0].Options with { Seed = 99 }));
        Assert.NotEqual(results[0].Tokens, reseeded.Tokens);
    }

    [Fact(Timeout = 120_000)]
    public async Task Streamed_text_agrees_with_the_tokens_and_the_last_delta_counts_them()
    {
        using var served = Open(new ServingOptions(), adapters: 2);
        var request = new TextRequest("hello world", ServingFolders.AdapterName(1), new GenerationOptions(MaxNewTokens: 20));
        var deltas = new List<TextDelta>();
        await foreach (var delta in served.GenerateAsync(request)) deltas.Add(delta);

        var prompt = served.Encode("hello world");
        using var reference = folders.Reference();
        var tokens = ServingFolders.Solo(reference, request.Adapter, prompt, request.Options with { EndTokens = EndTokens });
        var shown = tokens[^1] == ServingFolders.ImEnd ? tokens[..^1] : tokens;
        Assert.Equal(served.Encoder.Decode(shown), string.Concat(deltas.Select(d => d.Text)));
        Assert.All(deltas[..^1], d => Assert.Null(d.FinishReason));
        Assert.Equal(tokens[^1] == ServingFolders.ImEnd ? "stop" : "length", deltas[^1].FinishReason);
        Assert.Equal((prompt.Length, tokens.Length), (deltas[^1].PromptTokens, deltas[^1].CompletionTokens));
        Assert.True(deltas.Count > 2, "the text came in pieces");
    }

    [Fact(Timeout = 120_000)]
    public async Task Cancelling_a_request_frees_its_row_and_the_engine_keeps_serving()
    {
        using var served = Open(new ServingOptions(MaxRunning: 1, MaxWaiting: 4), adapters: 1);
        using var cancel = new CancellationTokenSource();
        var first = served.Engine.Submit([1, 2], ServingFolders.AdapterName(0), new GenerationOptions(MaxNewTokens: 90), cancel.Token);
        Assert.True(await first.WaitToReadAsync());
        var waiting = served.Engine.Submit([3, 4, 5], null, new GenerationOptions(MaxNewTokens: 5));   // needs the only row
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Collect(first));
        var (tokens, reason) = await Collect(waiting);
        Assert.Equal((5, "length"), (tokens.Length, reason));
    }

    [Fact(Timeout = 120_000)]
    public async Task A_full_queue_an_unknown_adapter_and_too_long_requests_are_refused_by_kind_and_field()
    {
        using var served = Open(new ServingOptions(MaxRunning: 1, MaxWaiting: 2), adapters: 1);
        using var cancel = new CancellationTokenSource();
        var running = served.Engine.Submit([1], null, new GenerationOptions(MaxNewTokens: 90), cancel.Token);
        Assert.True(await running.WaitToReadAsync());                              // it holds the only row
        var queued = Enumerable.Range(0, 2).Select(_ => served.Engine.Submit([1], null, new GenerationOptions(MaxNewTokens: 2), cancel.Token)).ToArray();
        var full = Assert.Throws<ServingException>(() => served.Engine.Submit([1], null, new GenerationOptions()));
        Assert.Equal(ServingError.QueueFull, full.Kind);
        cancel.Cancel();

        var unknown = Assert.Throws<ServingException>(() => served.GenerateAsync(new TextRequest("hi", "nobody", new GenerationOptions())));
        Assert.Equal((ServingError.NotFound, "model"), (unknown.Kind, unknown.Parameter));
        Assert.Contains("'nobody'", unknown.Message);
        var longPrompt = Assert.Throws<ServingException>(() => served.GenerateAsync(new TextRequest(new string('a', ServingFolders.Context), null, new GenerationOptions())));
        Assert.Equal((ServingError.InvalidRequest, "prompt"), (longPrompt.Kind, longPrompt.Parameter));
        var tooMany = Assert.Throws<ServingException>(() => served.GenerateAsync(new TextRequest("abc", null, new GenerationOptions(MaxNewTokens: ServingFolders.Context - 2))));
        Assert.Equal((ServingError.InvalidRequest, "max_tokens"), (tooMany.Kind, tooMany.Parameter));
        var hot = Assert.Throws<ServingException>(() => served.GenerateAsync(new TextRequest("abc", null, new GenerationOptions(TopP: 0))));
        Assert.Equal((ServingError.InvalidRequest, "top_p"), (hot.Kind, hot.Parameter));
        Assert.StartsWith("'top_p' must be in (0, 1]; got 0", hot.Message);
        var cold = Assert.Throws<ServingException>(() => served.GenerateAsync(new TextRequest("abc", null, new GenerationOptions(Temperature: -1))));
        Assert.Equal((ServingError.InvalidRequest, "temperature"), (cold.Kind, cold.Parameter));
        var fine = await Collect(served.Engine.Submit(served.Encode("abc"), null, new GenerationOptions(MaxNewTokens: ServingFolders.Context - 3)));
        Assert.Equal(ServingFolders.Context - 3, fine.Tokens.Length);               // the limit itself is allowed
    }

    [Fact(Timeout = 120_000)]
    public async Task Unloading_an_adapter_in_use_waits_for_its_requests_and_refuses_new_ones_at_once()
    {
        using var served = Open(new ServingOptions(), adapters: 2);
        string name = ServingFolders.AdapterName(1);
        var options = new GenerationOptions(MaxNewTokens: 60);
        var inFlight = served.Engine.Submit([1, 2, 3], name, options);
        Assert.True(await inFlight.WaitToReadAsync());
        var unload = served.UnregisterAdapterAsync(name);
        Assert.False(unload.IsCompleted);
        var refused = Assert.Throws<ServingException>(() => served.Engine.Submit([1], name, new GenerationOptions()));
        Assert.Equal(ServingError.NotFound, refused.Kind);
        Assert.DoesNotContain(served.Adapters, a => a.Name == name);

        var (tokens, reason) = await Collect(inFlight);                              // never broken by the unload
        using (var reference = folders.Reference())
            Assert.Equal(ServingFolders.Solo(reference, name, [1, 2, 3], options), tokens);
        Assert.Equal("length", reason);
        await unload;
        Assert.Equal(ServingError.NotFound, Assert.Throws<ServingException>(() => served.Engine.Submit([1], name, new GenerationOptions())).Kind);
        Assert.DoesNotContain(name, LoraGen.Adapters.ModelAdapters.AdapterNames(served.Model));
        Assert.Equal(ServingError.NotFound, (await Assert.ThrowsAsync<ServingException>(() => served.UnregisterAdapterAsync(name))).Kind);
        served.RegisterAdapter(name, folders.AdapterFolder(1));                     // the name is free again
    }

    [Fact(Timeout = 300_000)]
    public async Task Under_a_small_byte_budget_evicted_adapters_reload_transparently_with_identical_outputs()
    {
        using var served = Open(new ServingOptions(MaxRunning: 4), adapters: 0);
        for (int i = 0; i < 8; i++) served.RegisterAdapter(ServingFolders.AdapterName(i), folders.AdapterFolder(i));
        long largest = served.Adapters.Max(a => a.Bytes);
        served.Dispose();

        using var small = Open(new ServingOptions(MaxRunning: 4, AdapterBytes: 2 * largest), adapters: 8);
        Assert.Contains(small.Adapters, a => !a.Loaded);                          // registering all eight evicted some
        Assert.True(small.Adapters.Where(a => a.Loaded).Sum(a => a.Bytes) <= 2 * largest);
        var random = new Random(7);
        var requests = Enumerable.Range(0, 24).Select(i => (Adapter: ServingFolders.AdapterName(i * 5 % 8), Prompt: Prompt(random, 3 + i % 7),
            Options: new GenerationOptions(MaxNewTokens: 6, EndTokens: EndTokens))).ToArray();
        var results = await Task.WhenAll(requests.Select(r => Collect(small.Engine.Submit(r.Prompt, r.Adapter, r.Options))));
        using var reference = folders.Reference();
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(ServingFolders.Solo(reference, requests[i].Adapter, requests[i].Prompt, requests[i].Options), results[i].Tokens);
        Assert.True(small.Adapters.Where(a => a.Loaded).Sum(a => a.Bytes) <= 2 * largest, "idle adapters are back within the budget");
        Assert.Contains(small.Adapters, a => !a.Loaded);
    }

    [Fact(Timeout = 120_000)]
    public async Task Adapters_evicted_from_the_model_come_back_from_host_memory_and_past_the_host_budget_from_their_folders()
    {
        // Private copies of four adapter folders, deleted once registered: only host copies can serve them then.
        string copies = Path.Combine(Path.GetTempPath(), "loragen-host-tier-" + Guid.NewGuid().ToString("N"));
        var names = Enumerable.Range(0, 4).Select(ServingFolders.AdapterName).ToArray();
        try
        {
            foreach (var (name, i) in names.Select((n, i) => (n, i)))
            {
                Directory.CreateDirectory(Path.Combine(copies, name));
                foreach (var file in Directory.GetFiles(folders.AdapterFolder(i))) File.Copy(file, Path.Combine(copies, name, Path.GetFileName(file)));
            }
            var bytes = names.Select((_, i) =>
            {
                using var content = LoraGen.Checkpoints.PeftAdapter.Read(folders.AdapterFolder(i));
                return content.Bytes;                                                    // fp32 in the file and in the model
            }).ToArray();
            using var served = ServedModel.Open(folders.Model, new ServingOptions(MaxRunning: 4, AdapterBytes: bytes[3], HostAdapterBytes: bytes[2] + bytes[3]));
            foreach (var name in names) served.RegisterAdapter(name, Path.Combine(copies, name));
            Assert.Equal([names[3]], served.Adapters.Where(a => a.Loaded).Select(a => a.Name));            // one fits the model
            Assert.Equal(names[2..], served.Adapters.Where(a => a.InHostMemory).Select(a => a.Name));      // the two most recent stay in host memory
            Directory.Delete(copies, recursive: true);

            var options = new GenerationOptions(MaxNewTokens: 6, EndTokens: EndTokens);
            long[] prompt = [3, 1, 4, 1, 5];
            using var reference = folders.Reference();
            var fromHost = await Collect(served.Engine.Submit(prompt, names[2], options));              // evicted from the model, back from host memory
            Assert.Equal(ServingFolders.Solo(reference, names[2], prompt, options), fromHost.Tokens);
            Assert.Contains(served.Adapters, a => a.Name == names[2] && a.InHostMemory);                 // kept for the next time
            var error = await Assert.ThrowsAnyAsync<Exception>(() => Collect(served.Engine.Submit(prompt, names[0], options)));   // its host copy was dropped
            Assert.Contains(Path.Combine(copies, names[0]), error.Message);                               // the folder it went back to, gone
        }
        finally
        {
            if (Directory.Exists(copies)) Directory.Delete(copies, recursive: true);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task A_bad_adapter_folder_is_refused_naming_the_file_and_leaves_the_model_serving()
    {
        using var served = Open(new ServingOptions(), adapters: 1);
        string broken = Path.Combine(Path.GetTempPath(), "loragen-broken-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(broken);
        try
        {
            File.Copy(Path.Combine(folders.AdapterFolder(3), "adapter_model.safetensors"), Path.Combine(broken, "adapter_model.safetensors"));
            var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folders.AdapterFolder(3), "adapter_config.json")))!;
            config["r"] = 4;                                                           // the weights are r=16: wrong shapes
            File.WriteAllText(Path.Combine(broken, "adapter_config.json"), config.ToJsonString());
            var error = Assert.Throws<ServingException>(() => served.RegisterAdapter("broken", broken));
            Assert.Equal(ServingError.InvalidRequest, error.Kind);
            Assert.Contains("adapter_model.safetensors", error.Message);
            var missing = Assert.Throws<ServingException>(() => served.RegisterAdapter("missing", Path.Combine(broken, "nothing")));
            Assert.Contains("adapter_config.json", missing.Message);
            Assert.Equal(ServingError.InvalidRequest, Assert.Throws<ServingException>(() => served.RegisterAdapter(ServingFolders.AdapterName(0), folders.AdapterFolder(0))).Kind);
        }
        finally
        {
            Directory.Delete(broken, recursive: true);
        }
        Assert.Equal([ServingFolders.AdapterName(0)], served.Adapters.Select(a => a.Name));
        Assert.Equal([ServingFolders.AdapterName(0)], LoraGen.Adapters.ModelAdapters.AdapterNames(served.Model));
        var options = new GenerationOptions(MaxNewTokens: 8);
        var (tokens, _) = await Collect(served.Engine.Submit([4, 5, 6], ServingFolders.AdapterName(0), options));
        using var reference = folders.Reference();
        Assert.Equal(ServingFolders.Solo(reference, ServingFolders.AdapterName(0), [4, 5, 6], options), tokens);
    }
}
