using System.Text;
using System.Text.Json;
using LoraGen.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraGen.Cli.Serve;

/// <summary>Runs one request on the model and answers it in its format: one JSON body, or a stream of events.</summary>
internal static class CompletionRunner
{
    public static async Task RunAsync(HttpContext http, IServedModel model, TextRequest request, GenerationFields fields, CompletionFormat format)
    {
        var cancel = http.RequestAborted;   // a client that leaves cancels its generation; the engine frees its slot
        await using var deltas = model.GenerateAsync(request, cancel).GetAsyncEnumerator(cancel);
        // The first delta before any byte of the answer: a refusal (unknown adapter, prompt too long, full queue) keeps its HTTP status.
        if (!await deltas.MoveNextAsync()) throw new InvalidOperationException("the model ended a request without a finish reason");
        if (fields.Stream) await StreamAsync(http.Response, deltas, fields, format);
        else
        {
            var text = new StringBuilder(deltas.Current.Text);
            while (deltas.Current.FinishReason is null && await deltas.MoveNextAsync()) text.Append(deltas.Current.Text);
            var last = Last(deltas.Current);
            http.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(http.Response.Body, format.Whole(text.ToString(), last.FinishReason!, UsageOf(last)), CompletionEnvelope.Json, cancel);
        }
    }

    private static async Task StreamAsync(HttpResponse response, IAsyncEnumerator<TextDelta> deltas, GenerationFields fields, CompletionFormat format)
    {
        var events = new ServerSentEvents(response);
        await events.StartAsync();
        if (format.Opening() is { } opening) await events.DataAsync(opening);
        try
        {
            do
            {
                if (deltas.Current.Text.Length > 0) await events.DataAsync(format.Piece(deltas.Current.Text));
            }
            while (deltas.Current.FinishReason is null && await deltas.MoveNextAsync());
            var last = Last(deltas.Current);
            await events.DataAsync(format.Closing(last.FinishReason!));
            if (fields.IncludeUsage) await events.DataAsync(format.UsageChunk(UsageOf(last)));
        }
        catch (ServingException error)
        {
            // The status line is gone: the error travels as the last event, as vLLM sends it.
            await events.DataAsync(OpenAiError.From(error).Body);
        }
        await events.DoneAsync();
    }

    private static TextDelta Last(TextDelta delta) =>
        delta.FinishReason is null ? throw new InvalidOperationException("the model ended a request without a finish reason") : delta;

    private static Usage UsageOf(TextDelta last) => new(last.PromptTokens, last.CompletionTokens);
}
