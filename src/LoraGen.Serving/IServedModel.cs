using LoraGen.Models.Data;
using LoraGen.Models.Generation;

namespace LoraGen.Serving;

/// <summary>
/// One base model and its adapters, as a server sees them: text in, text out, the adapter chosen per request by name
/// (vLLM's and LoRAX's <c>model</c> field). Implemented by <c>ServedModel</c>; `loragen serve` and
/// <c>ServedChatClient</c> use nothing else. Safe to call from many threads at once.
/// </summary>
public interface IServedModel
{
    /// <summary>The name requests use for the base without an adapter (the model folder's name).</summary>
    string BaseModelId { get; }

    /// <summary>Tokens a prompt and its completion may take together (config.json's max_position_embeddings).</summary>
    int ContextLength { get; }

    /// <summary>Every registered adapter, loaded into the model or waiting in the pool.</summary>
    IReadOnlyList<AdapterInfo> Adapters { get; }

    /// <summary>Registers a peft adapter folder under <paramref name="name"/> (vLLM's load_lora_adapter).</summary>
    /// <exception cref="ServingException">InvalidRequest for a bad folder or a name in use, naming the file.</exception>
    AdapterInfo RegisterAdapter(string name, string folder);

    /// <summary>Removes an adapter once the requests using it have finished; new requests for it are refused at once.</summary>
    /// <exception cref="ServingException">NotFound for an unknown name.</exception>
    Task UnregisterAdapterAsync(string name, CancellationToken cancel = default);

    /// <summary>The prompt the model's family expects for a conversation (ChatML, Llama-3, [INST], Gemma, Phi).</summary>
    /// <exception cref="ServingException">InvalidRequest when the family has no known chat format, or a role is unknown.</exception>
    string ApplyChatTemplate(IReadOnlyList<ChatMessage> messages);

    /// <summary>How many tokens <paramref name="prompt"/> takes, as <see cref="GenerateAsync"/> will encode it (BOS included).</summary>
    int CountTokens(string prompt);

    /// <summary>Generates for one request: text as it comes, then a last delta with the finish reason and token counts.</summary>
    /// <remarks>Cancelling <paramref name="cancel"/> (a client that went away) frees the request's slot at the next step.</remarks>
    /// <exception cref="ServingException">NotFound (unknown adapter), InvalidRequest (prompt too long, bad options), QueueFull.</exception>
    IAsyncEnumerable<TextDelta> GenerateAsync(TextRequest request, CancellationToken cancel = default);
}

/// <param name="Adapter">A registered adapter's name, or null (or <see cref="IServedModel.BaseModelId"/>) for the base alone.</param>
public sealed record TextRequest(string Prompt, string? Adapter, GenerationOptions Options);

/// <summary>A piece of a completion as it is generated.</summary>
/// <param name="FinishReason">null until the last delta; then "stop" (an end token) or "length" (max tokens).</param>
public sealed record TextDelta(string Text, string? FinishReason = null, int PromptTokens = 0, int CompletionTokens = 0);

/// <param name="Loaded">Whether its weights are in the model now (false: evicted from the compute device, reloaded on demand).</param>
/// <param name="InHostMemory">Whether a host copy is held (false: dropped past the host budget; the folder is read again).</param>
public sealed record AdapterInfo(string Name, string Folder, string Kind, int Rank, long Bytes, bool Loaded, bool InHostMemory = false);

/// <summary>What a request got wrong, or why it cannot run now; the server maps <see cref="Kind"/> to an HTTP status.</summary>
public sealed class ServingException(ServingError kind, string message, string? parameter = null) : Exception(message)
{
    public ServingError Kind { get; } = kind;

    /// <summary>The request field at fault (OpenAI's error.param), when there is one.</summary>
    public string? Parameter { get; } = parameter;
}

public enum ServingError
{
    /// <summary>400</summary>
    InvalidRequest,

    /// <summary>404: an unknown model or adapter.</summary>
    NotFound,

    /// <summary>409: the adapter is busy (e.g. a second load under the same name).</summary>
    Conflict,

    /// <summary>429: the queue of waiting requests is full.</summary>
    QueueFull,
}
