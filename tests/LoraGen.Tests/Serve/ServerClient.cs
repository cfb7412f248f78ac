using System.Net;
using System.Text;
using System.Text.Json;
using LoraGen.Cli.Serve;
using LoraGen.Serving;

namespace LoraGen.Tests.Serve;

/// <summary>A real server on 127.0.0.1 (a free port) over a model, and a real HttpClient to it; every call bounded in time.</summary>
internal sealed class ServerClient : IAsyncDisposable
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private ServerClient(OpenAiServer server)
    {
        Server = server;
        Http = new HttpClient { BaseAddress = server.Address, Timeout = Limit };
    }

    public OpenAiServer Server { get; }

    public HttpClient Http { get; }

    public static async Task<ServerClient> StartAsync(IServedModel model, ServeOptions? options = null) =>
        new(await OpenAiServer.StartAsync(model, (options ?? new ServeOptions()) with { Port = 0 }));

    public Task<HttpResponseMessage> PostAsync(string route, string json) =>
        Http.PostAsync(route, new StringContent(json, Encoding.UTF8, "application/json"));

    public async Task<JsonElement> PostJsonAsync(string route, string json)
    {
        using var response = await PostAsync(route, json);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The data of every event of a stream, [DONE] included, read to the end.</summary>
    public async Task<List<string>> StreamAsync(string route, string json)
    {
        using var response = await OpenStreamAsync(route, json);
        return await EventsAsync(response);
    }

    /// <summary>A stream whose headers have come: the server has its first token, so the request is generating.</summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(string route, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return response;
    }

    public static async Task<List<string>> EventsAsync(HttpResponseMessage response)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.EndsWith("\n\n", body);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        return [.. events.Select(e => e["data: ".Length..])];
    }

    /// <summary>Asserts an OpenAI error body with the status: {"error": {"message", "type", "param", "code"}}, no stack trace.</summary>
    public static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? param = null)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal(["message", "type", "param", "code"], error.EnumerateObject().Select(p => p.Name));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.EndsWith("Error", error.GetProperty("type").GetString());
        Assert.Equal((int)status, error.GetProperty("code").GetInt32());
        if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.DoesNotContain("   at ", body);
        return error;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}
