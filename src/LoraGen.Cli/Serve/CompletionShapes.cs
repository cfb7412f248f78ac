using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraGen.Cli.Serve;

// OpenAI's response objects for /v1/completions and /v1/chat/completions, field for field (snake_case on the wire).

/// <summary>A whole response or one streamed chunk: object is text_completion, chat.completion or chat.completion.chunk.</summary>
internal sealed record CompletionEnvelope(
    string Id, string Object, long Created, string Model, IReadOnlyList<object> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null)
{
    /// <summary>snake_case names; text as it is (a JSON body, never inlined in HTML: "<|im_end|>" need not be \u003C escaped).</summary>
    public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

internal sealed record Usage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <param name="Logprobs">Always null: log-probabilities are not returned (a request asking for them is refused).</param>
internal sealed record TextChoice(int Index, string Text, object? Logprobs, string? FinishReason);

internal sealed record ChatChoice(int Index, AssistantMessage Message, object? Logprobs, string? FinishReason);

internal sealed record AssistantMessage(string Role, string Content);

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, object? Logprobs, string? FinishReason);

/// <summary>What a chat chunk adds: the role once, first; then content; the last chunk's delta is empty.</summary>
internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null);
