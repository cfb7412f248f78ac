using System.Net;
using System.Text.Json;
using LoraGen.Cli.Serve;
using LoraGen.Devices;
using LoraGen.Serving;

namespace LoraGen.Tests.Serve;

/// <summary>
/// `loragen serve` on the real <see cref="ServedModel"/> over a tiny Llama and 32 adapters: a real server, a real
/// HttpClient, and every answer checked against the same prompt generated alone by the library.
/// </summary>
public class ServeEndToEndTests(ServedFolders folders) : IClassFixture<ServedFolders>
{
    private const int MaxTokens = 8;
    private static readonly string[] Prompts = ["abc", "hello", "lora", "zyxw", "served", "q"];

    private async Task<(ServedModel Model, ServerClient Client)> StartAsync(bool adapters = true, string? adapterRoot = null, long adapterBytes = long.MaxValue)
    {
        var model = ServedModel.Open(folders.Model, new ServingOptions(MaxRunning: 64, MaxWaiting: 256, AdapterBytes: adapterBytes));
        if (adapters) foreach (var name in folders.Adapters) model.RegisterAdapter(name, folders.Folder(name));
        return (model, await ServerClient.StartAsync(model, new ServeOptions { AdapterRoot = adapterRoot, MaxTokensLimit = MaxTokens }));
    }

    private static string Request(string? adapter, string prompt, bool stream) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["model"] = adapter, ["prompt"] = prompt, ["max_tokens"] = MaxTokens, ["temperature"] = 0, ["stream"] = stream,
    });

    /// <summary>The completion's text, whole or put together from its stream.</summary>
    private static async Task<string> CompleteAsync(ServerClient client, string? adapter, string prompt, bool stream)
    {
        if (!stream) return (await client.PostJsonAsync("v1/completions", Request(adapter, prompt, false))).GetProperty("choices")[0].GetProperty("text").GetString()!;
        using var response = await client.OpenStreamAsync("v1/completions", Request(adapter, prompt, true));
        return await TextOfAsync(response);
    }

    private static async Task<string> TextOfAsync(HttpResponseMessage response)
    {
        var events = await ServerClient.EventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        return string.Concat(events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()));
    }

    [Fact]
    public async Task Many_concurrent_greedy_requests_over_32_adapters_and_the_base_each_equal_the_prompt_generated_alone()
    {
        var (model, client) = await StartAsync();
        using var _ = model;
        await using var server = client;
        // 128 requests at once: request k on the base or adapter k mod 33, every other one streamed.
        var jobs = Enumerable.Range(0, 128).Select(k => (Adapter: k % 33 == 32 ? null : folders.Adapters[k % 33], Prompt: Prompts[k % Prompts.Length], Stream: k % 2 == 1)).ToArray();
        var answers = await Task.WhenAll(jobs.Select(job => CompleteAsync(client, job.Adapter, job.Prompt, job.Stream)));
        for (int k = 0; k < jobs.Length; k++)
            Assert.True(folders.Solo(jobs[k].Adapter, jobs[k].Prompt, MaxTokens) == answers[k],
                $"request {k} ({jobs[k].Adapter ?? "base"}, '{jobs[k].Prompt}', stream {jobs[k].Stream}): served '{answers[k]}', alone '{folders.Solo(jobs[k].Adapter, jobs[k].Prompt, MaxTokens)}'");
        Assert.True(jobs.Select((job, k) => answers[k]).Distinct().Count() > Prompts.Length, "the adapters change the answers");
    }

    [Fact]
    public async Task Under_a_byte_budget_for_three_adapters_every_adapter_still_answers_as_alone_reloaded_after_eviction()
    {
        long largest;
        using (var probe = ServedModel.Open(folders.Model))
            largest = folders.Adapters.Take(8).Max(name => probe.RegisterAdapter(name, folders.Folder(name)).Bytes);
        var (model, client) = await StartAsync(adapters: false, adapterBytes: 3 * largest);
        using var _ = model;
        await using var server = client;
        var names = folders.Adapters.Take(8).ToArray();
        foreach (var name in names) model.RegisterAdapter(name, folders.Folder(name));
        Assert.InRange(model.Adapters.Count(a => a.Loaded), 1, 3);                                 // the budget holds: the rest were evicted
        for (int pass = 0; pass < 2; pass++)                                                       // each request reloads an evicted adapter
            foreach (var name in names)
                Assert.Equal(folders.Solo(name, "hello", MaxTokens), await CompleteAsync(client, name, "hello", stream: pass == 1));
        var listed = JsonDocument.Parse(await client.Http.GetStringAsync("v1/models")).RootElement.GetProperty("data").EnumerateArray().Select(c => c.GetProperty("id").GetString());
        Assert.Equal([model.BaseModelId, .. names.Order(StringComparer.Ordinal)], listed);          // evicted adapters are still served
        Assert.InRange(model.Adapters.Count(a => a.Loaded), 1, 3);
    }

    [Fact]
    public async Task Streamed_and_whole_answers_agree_and_usage_counts_the_tokens()
    {
        var (model, client) = await StartAsync();
        using var _ = model;
        await using var server = client;
        foreach (var adapter in new[] { null, folders.Adapters[3] })
        {
            var whole = await client.PostJsonAsync("v1/completions", Request(adapter, "hello", false));
            Assert.Equal(await CompleteAsync(client, adapter, "hello", stream: true), whole.GetProperty("choices")[0].GetProperty("text").GetString());
            Assert.Equal(MaxTokens, whole.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Equal(folders.Encoder.Tokens("hello").Count() + (folders.Encoder.Bos is null ? 0 : 1), whole.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        }
    }

    [Fact]
    public async Task A_prompt_past_the_context_is_400_naming_the_prompt()
    {
        var (model, client) = await StartAsync(adapters: false);
        using var _ = model;
        await using var server = client;
        using var response = await client.PostAsync("v1/completions", Request(null, new string('a', 100), false));
        await ServerClient.AssertErrorAsync(response, HttpStatusCode.BadRequest, "prompt");
    }

    [Fact]
    public async Task Adapters_load_and_unload_while_requests_run_and_the_unloaded_adapters_started_requests_finish()
    {
        var (model, client) = await StartAsync(adapters: false, adapterRoot: folders.AdapterRoot);
        using var _ = model;
        await using var server = client;
        foreach (var name in folders.Adapters[..4])
            using (var loaded = await client.PostAsync("v1/load_lora_adapter", $$"""{"lora_name": "{{name}}", "lora_path": "{{name}}"}"""))
                Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);

        // Streams on the adapter to unload, generating already (their headers came with their first token)...
        var started = await Task.WhenAll(Prompts.Select(async prompt => (Prompt: prompt, Response: await client.OpenStreamAsync("v1/completions", Request("a00", prompt, true)))));
        // ...and more requests on the other adapters and the base, while a fifth adapter loads and the first unloads.
        var running = Enumerable.Range(0, 48).Select(k =>
        {
            var job = (Adapter: k % 4 == 3 ? null : folders.Adapters[1 + k % 4], Prompt: Prompts[k % Prompts.Length]);
            return (job, Answer: CompleteAsync(client, job.Adapter, job.Prompt, stream: k % 2 == 0));
        }).ToArray();
        var load = client.PostAsync("v1/load_lora_adapter", $$"""{"lora_name": "late", "lora_path": "{{folders.Adapters[9]}}"}""");
        var unload = client.PostAsync("v1/unload_lora_adapter", """{"lora_name": "a00"}""");
        using (var loaded = await load) Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);
        using (var unloaded = await unload) Assert.Equal("Success: LoRA adapter 'a00' removed successfully.", await unloaded.Content.ReadAsStringAsync());

        foreach (var (prompt, response) in started)
            using (response) Assert.Equal(folders.Solo("a00", prompt, MaxTokens), await TextOfAsync(response));
        foreach (var (job, answer) in running)
            Assert.Equal(folders.Solo(job.Adapter, job.Prompt, MaxTokens), await answer);
        Assert.Equal(folders.Solo(folders.Adapters[9], "abc", MaxTokens), await CompleteAsync(client, "late", "abc", stream: false));
        using var gone = await client.PostAsync("v1/completions", Request("a00", "abc", false));
        await ServerClient.AssertErrorAsync(gone, HttpStatusCode.NotFound, "model");
        var ids = JsonDocument.Parse(await client.Http.GetStringAsync("v1/models")).RootElement.GetProperty("data").EnumerateArray().Select(c => c.GetProperty("id").GetString());
        Assert.Equal(new[] { model.BaseModelId, "a01", "a02", "a03", "late" }.Order(), ids.Order());
    }

    [Fact]
    public async Task Host_memory_stays_flat_over_a_thousand_requests()
    {
        const long Slack = 64L << 20;   // allocator and JIT noise of a process that also runs other tests; a leak of one request's buffers grows far past it
        var (model, client) = await StartAsync();
        using var _ = model;
        await using var server = client;
        async Task Run(int count) => await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 16 },
            async (k, _) => await CompleteAsync(client, k % 9 == 8 ? null : folders.Adapters[k % 32], Prompts[k % Prompts.Length], stream: k % 2 == 0));
        await Run(200);                                   // warm: JIT, pools, every adapter loaded once
        GC.Collect();
        long before = HostMemory.StatusBytes("VmRSS");
        await Run(1000);
        GC.Collect();
        long after = HostMemory.StatusBytes("VmRSS");
        Assert.True(after - before < Slack, $"RSS grew {(after - before) / (1 << 20)} MiB over 1,000 requests ({before >> 20} -> {after >> 20} MiB)");
    }
}
