using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LoraGen.Cli.Serve;

/// <summary>An OpenAI stream: `data: {json}` events, each sent as soon as it is written, ending with `data: [DONE]`.</summary>
internal sealed class ServerSentEvents(HttpResponse response)
{
    public async Task StartAsync()
    {
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        await response.StartAsync(response.HttpContext.RequestAborted);
    }

    public Task DataAsync(object payload) => WriteAsync(JsonSerializer.Serialize(payload, CompletionEnvelope.Json));

    public Task DoneAsync() => WriteAsync("[DONE]");

    private async Task WriteAsync(string data)
    {
        await response.WriteAsync($"data: {data}\n\n", response.HttpContext.RequestAborted);
        await response.Body.FlushAsync(response.HttpContext.RequestAborted);
    }
}
