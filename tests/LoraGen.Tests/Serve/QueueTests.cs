using System.Net;
using System.Text;
using LoraGen.Cli.Serve;

namespace LoraGen.Tests.Serve;

/// <summary>--queue bounds the requests in flight: one more gets 429 at once, and a client that leaves gives its slot back.</summary>
public class QueueTests
{
    private const string Held = """{"prompt": "abc", "max_tokens": 3, "stream": true}""";

    [Fact]
    public async Task A_full_queue_answers_429_and_takes_work_again_once_requests_finish()
    {
        var model = new ScriptedModel();
        await using var client = await ServerClient.StartAsync(model, new ServeOptions { Queue = 2 });
        model.Hold();
        var first = client.StreamAsync("v1/completions", Held);
        var second = client.StreamAsync("v1/completions", Held);
        await WaitUntil(() => model.Running == 2);

        using (var refused = await client.PostAsync("v1/completions", """{"prompt": "a", "max_tokens": 2}"""))
            await ServerClient.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests);

        model.Release();
        Assert.Equal("[DONE]", (await first)[^1]);
        Assert.Equal("[DONE]", (await second)[^1]);
        var accepted = await client.PostJsonAsync("v1/completions", """{"prompt": "a", "max_tokens": 2}""");
        Assert.Equal("ba", accepted.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_client_that_aborts_its_stream_frees_its_slot_and_its_generation()
    {
        var model = new ScriptedModel();
        await using var client = await ServerClient.StartAsync(model, new ServeOptions { Queue = 1 });
        model.Hold();
        using (var abort = new CancellationTokenSource(ServerClient.Limit))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(Held, Encoding.UTF8, "application/json") };
            using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, abort.Token);
            var stream = await response.Content.ReadAsStreamAsync(abort.Token);
            Assert.True(await stream.ReadAsync(new byte[16], abort.Token) > 0);    // the stream has started: its generation holds the one slot
            Assert.Equal(1, model.Running);
            abort.Cancel();                                                        // the client goes away mid-stream
        }
        await WaitUntil(() => model.Running == 0);                                 // the generation saw the cancellation
        model.Release();
        // The slot comes back as the handler ends, just after the generation: until then only 429 may come.
        using var limit = new CancellationTokenSource(ServerClient.Limit);
        while (true)
        {
            using var response = await client.PostAsync("v1/completions", """{"prompt": "a", "max_tokens": 2}""");
            if (response.StatusCode == HttpStatusCode.OK) break;
            await ServerClient.AssertErrorAsync(response, HttpStatusCode.TooManyRequests);
            await Task.Delay(10, limit.Token);
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(ServerClient.Limit);
        while (!condition()) await Task.Delay(10, limit.Token);
    }
}
