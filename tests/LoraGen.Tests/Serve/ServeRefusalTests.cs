using System.Net;
using System.Text;
using LoraGen.Cli.Serve;

namespace LoraGen.Tests.Serve;

/// <summary>Every bad request gets its status and an OpenAI error body naming the field, never a stack trace; and the server holds.</summary>
public class ServeRefusalTests
{
    private const string Completions = "v1/completions", Chat = "v1/chat/completions";

    public static TheoryData<string, string, HttpStatusCode, string?> BadRequests => new()
    {
        { Completions, """{"prompt": "a", "max_tokens": 4""", HttpStatusCode.BadRequest, null },                        // malformed JSON
        { Completions, """["prompt"]""", HttpStatusCode.BadRequest, null },                                              // not an object
        { Completions, """{"prompt": "a", "max_tokens": "ten"}""", HttpStatusCode.BadRequest, "max_tokens" },
        { Completions, """{"prompt": "a", "max_tokens": 2.5}""", HttpStatusCode.BadRequest, "max_tokens" },
        { Completions, """{"prompt": "a", "max_tokens": 0}""", HttpStatusCode.BadRequest, "max_tokens" },
        { Completions, """{"prompt": "a", "max_tokens": 17}""", HttpStatusCode.BadRequest, "max_tokens" },              // above --max-tokens-limit 16
        { Completions, """{"prompt": "a", "temperature": "hot"}""", HttpStatusCode.BadRequest, "temperature" },
        { Completions, """{"prompt": "a", "temperature": -1}""", HttpStatusCode.BadRequest, "temperature" },
        { Completions, """{"prompt": "a", "top_p": 0}""", HttpStatusCode.BadRequest, "top_p" },
        { Completions, """{"prompt": "a", "seed": "1"}""", HttpStatusCode.BadRequest, "seed" },
        { Completions, """{"prompt": "a", "stream": "yes"}""", HttpStatusCode.BadRequest, "stream" },
        { Completions, """{"prompt": "a", "stream_options": {"include_usage": true}}""", HttpStatusCode.BadRequest, "stream_options" },
        { Completions, """{"prompt": "a", "n": 2}""", HttpStatusCode.BadRequest, "n" },
        { Completions, """{"prompt": "a", "stop": ["\n"]}""", HttpStatusCode.BadRequest, "stop" },
        { Completions, """{"prompt": "a", "frobnicate": 1}""", HttpStatusCode.BadRequest, "frobnicate" },                // unknown field
        { Completions, """{"prompt": ["a", "b"]}""", HttpStatusCode.BadRequest, "prompt" },
        { Completions, """{"max_tokens": 4}""", HttpStatusCode.BadRequest, "prompt" },
        { Completions, """{"prompt": "a", "model": 7}""", HttpStatusCode.BadRequest, "model" },
        { Completions, """{"prompt": "a", "model": "no-such-adapter"}""", HttpStatusCode.NotFound, "model" },
        { Completions, $$"""{"prompt": "{{new string('x', 60)}}", "max_tokens": 8}""", HttpStatusCode.BadRequest, "prompt" },   // past the context
        { Chat, """{"messages": "hi"}""", HttpStatusCode.BadRequest, "messages" },
        { Chat, """{"messages": []}""", HttpStatusCode.BadRequest, "messages" },
        { Chat, """{"messages": [{"role": "user"}]}""", HttpStatusCode.BadRequest, "messages[0].content" },
        { Chat, """{"messages": [{"role": "user", "content": 3}]}""", HttpStatusCode.BadRequest, "messages[0].content" },
        { Chat, """{"messages": [{"role": "wizard", "content": "hi"}]}""", HttpStatusCode.BadRequest, "messages" },
        { Chat, """{"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 99}""", HttpStatusCode.BadRequest, "max_completion_tokens" },
        { Chat, """{"messages": [{"role": "user", "content": "hi"}], "model": "nope"}""", HttpStatusCode.NotFound, "model" },
        { "v1/load_lora_adapter", """{"lora_name": "x", "lora_path": "y"}""", HttpStatusCode.Forbidden, null },          // no --adapter-root
        { "v1/unload_lora_adapter", """{"lora_name": "x"}""", HttpStatusCode.Forbidden, null },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_bad_request_gets_its_status_and_an_openai_error_body(string route, string body, HttpStatusCode status, string? param)
    {
        await using var client = await ServerClient.StartAsync(new ScriptedModel(), new ServeOptions { MaxTokensLimit = 16 });
        using var response = await client.PostAsync(route, body);
        await ServerClient.AssertErrorAsync(response, status, param);
        var healthy = await client.PostJsonAsync(Completions, """{"prompt": "a", "max_tokens": 3}""");   // and the server still serves
        Assert.Equal("bas", healthy.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Without_adapter_root_runtime_loading_is_refused_saying_how_to_allow_it()
    {
        await using var client = await ServerClient.StartAsync(new ScriptedModel());
        using var response = await client.PostAsync("v1/load_lora_adapter", """{"lora_name": "x", "lora_path": "/tmp"}""");
        var error = await ServerClient.AssertErrorAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains("--adapter-root", error.GetProperty("message").GetString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_body_above_the_size_limit_is_413(bool chunked)
    {
        await using var client = await ServerClient.StartAsync(new ScriptedModel(), new ServeOptions { MaxBodyBytes = 4096 });
        string body = $$"""{"prompt": "{{new string('x', 10_000)}}"}""";
        using HttpContent content = chunked
            ? new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body)))     // no Content-Length: the limit is hit while reading
            : new StringContent(body, Encoding.UTF8, "application/json");
        content.Headers.ContentType = new("application/json");
        if (chunked) content.Headers.ContentLength = null;
        using var response = await client.Http.PostAsync(Completions, content);
        await ServerClient.AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge);
    }
}
