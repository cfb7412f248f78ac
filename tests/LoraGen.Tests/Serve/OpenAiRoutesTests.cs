using System.Net;
using System.Text.Json;
using LoraGen.Cli.Serve;

namespace LoraGen.Tests.Serve;

/// <summary>The routes' answers as OpenAI and vLLM shape them, on a real server over a scripted model.</summary>
public class OpenAiRoutesTests() : TemporaryFolder("loragen-serve-routes-")
{
    private async Task<(ScriptedModel Model, ServerClient Client)> StartAsync(ServeOptions? options = null)
    {
        var model = new ScriptedModel();
        File.WriteAllText(Path.Combine(Folder.FullName, "adapter_config.json"), "{}");
        model.RegisterAdapter("sql", Folder.FullName);
        return (model, await ServerClient.StartAsync(model, options));
    }

    [Fact]
    public async Task The_server_listens_on_loopback_unless_told_otherwise()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        Assert.Equal("127.0.0.1", client.Server.Address.Host);
        Assert.Equal("127.0.0.1", new ServeOptions().Host);
    }

    [Fact]
    public async Task Models_lists_the_base_then_each_adapter_with_its_parent_and_root()
    {
        var (model, client) = await StartAsync();
        await using var server = client;
        var list = JsonDocument.Parse(await client.Http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("list", list.GetProperty("object").GetString());
        var cards = list.GetProperty("data").EnumerateArray().ToArray();
        Assert.Equal(["tiny-base", "sql"], cards.Select(c => c.GetProperty("id").GetString()));
        Assert.All(cards, c => Assert.Equal("model", c.GetProperty("object").GetString()));
        Assert.Equal(64, cards[0].GetProperty("max_model_len").GetInt32());
        Assert.Equal(JsonValueKind.Null, cards[0].GetProperty("parent").ValueKind);
        Assert.Equal("tiny-base", cards[1].GetProperty("parent").GetString());
        Assert.Equal(model.Adapters[0].Folder, cards[1].GetProperty("root").GetString());
    }

    [Fact]
    public async Task A_completion_has_openai_fields_and_usage_and_the_model_field_picks_the_adapter()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        var body = await client.PostJsonAsync("v1/completions", """{"model": "sql", "prompt": "select", "max_tokens": 8, "temperature": 0}""");
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        Assert.Equal("sql", body.GetProperty("model").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(ScriptedModel.Reply("sql", "select", 8), choice.GetProperty("text").GetString());
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("logprobs").ValueKind);
        var usage = body.GetProperty("usage");
        Assert.Equal((6, 8, 14), (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32()));

        var unnamed = await client.PostJsonAsync("v1/completions", """{"prompt": "x", "max_tokens": 4}""");
        Assert.Equal("tiny-base", unnamed.GetProperty("model").GetString());
        Assert.Equal("base", unnamed.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_streamed_completion_is_server_sent_events_ending_with_done_and_agrees_with_the_whole_one()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        const string request = """{"model": "sql", "prompt": "abc", "max_tokens": 6, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}""";
        var events = await client.StreamAsync("v1/completions", request);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToArray();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        var choices = chunks[..^1].Select(c => c.GetProperty("choices")[0]).ToArray();
        Assert.Equal("length", choices[^1].GetProperty("finish_reason").GetString());
        Assert.All(choices[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("finish_reason").ValueKind));
        string streamed = string.Concat(choices.Select(c => c.GetProperty("text").GetString()));
        Assert.Empty(chunks[^1].GetProperty("choices").EnumerateArray());
        Assert.Equal(6, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        var whole = await client.PostJsonAsync("v1/completions", request.Replace("\"stream\": true, \"stream_options\": {\"include_usage\": true}", "\"stream\": false"));
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("text").GetString(), streamed);
    }

    [Fact]
    public async Task A_chat_answers_with_the_assistant_message_and_streams_role_then_content_then_finish_reason()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        const string request = """{"model": "sql", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10, "temperature": 0}""";
        var whole = await client.PostJsonAsync("v1/chat/completions", request);
        Assert.Equal("chat.completion", whole.GetProperty("object").GetString());
        Assert.StartsWith("chatcmpl-", whole.GetProperty("id").GetString());
        var message = whole.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal(ScriptedModel.Reply("sql", "<user>hi", 10), message.GetProperty("content").GetString());
        Assert.True(whole.GetProperty("usage").GetProperty("total_tokens").GetInt32() > 0);

        var events = await client.StreamAsync("v1/chat/completions", request.Replace("\"temperature\": 0", "\"temperature\": 0, \"stream\": true"));
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToArray();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        var deltas = chunks.Select(c => c.GetProperty("choices")[0]).ToArray();
        Assert.Equal("assistant", deltas[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.All(deltas[1..^1], d => Assert.False(d.GetProperty("delta").TryGetProperty("role", out _)));
        Assert.Equal(message.GetProperty("content").GetString(), string.Concat(deltas[1..^1].Select(d => d.GetProperty("delta").GetProperty("content").GetString())));
        Assert.Empty(deltas[^1].GetProperty("delta").EnumerateObject());
        Assert.Equal("length", deltas[^1].GetProperty("finish_reason").GetString());
        Assert.All(deltas[..^1], d => Assert.Equal(JsonValueKind.Null, d.GetProperty("finish_reason").ValueKind));
    }

    [Fact]
    public async Task Without_max_tokens_a_chat_may_use_the_rest_of_the_context_and_a_completion_16_tokens_as_vllm()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        const string content = "0123456789abcdefghij";
        var chat = await client.PostJsonAsync("v1/chat/completions", $$"""{"messages": [{"role": "user", "content": "{{content}}"}]}""");
        string prompt = $"<user>{content}";
        string expected = ScriptedModel.Reply(null, prompt, 64 - prompt.Length);                    // the context is 64
        Assert.True(expected.Length > 16);
        Assert.Equal(expected, chat.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var completion = await client.PostJsonAsync("v1/completions", $$"""{"prompt": "{{prompt}}"}""");
        Assert.Equal(ScriptedModel.Reply(null, prompt, 16), completion.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Chat_content_may_be_a_list_of_text_parts()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        var body = await client.PostJsonAsync("v1/chat/completions",
            """{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "max_tokens": 20}""");
        Assert.Equal("base:<user>ab", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task An_unknown_route_is_an_openai_404()
    {
        var (_, client) = await StartAsync();
        await using var server = client;
        using var response = await client.Http.GetAsync("v1/engines");
        await ServerClient.AssertErrorAsync(response, HttpStatusCode.NotFound);
    }
}
