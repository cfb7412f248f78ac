namespace LoraGen.Cli.Serve;

/// <summary>One generation written as one of OpenAI's two completion objects, whole or as stream chunks.</summary>
/// <param name="Model">The model field of the request as answered: the adapter's name or the base id.</param>
internal abstract record CompletionFormat(string Id, string Model)
{
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>The chunk sent before any text (chat: the assistant role); null when the format has none.</summary>
    public abstract CompletionEnvelope? Opening();

    public abstract CompletionEnvelope Piece(string text);

    public abstract CompletionEnvelope Closing(string finishReason);

    public abstract CompletionEnvelope Whole(string text, string finishReason, Usage usage);

    /// <summary>stream_options.include_usage: the last chunk, with usage and no choices.</summary>
    public CompletionEnvelope UsageChunk(Usage usage) => Piece("") with { Choices = [], Usage = usage };
}

/// <summary>/v1/completions: text_completion objects, streamed or whole.</summary>
internal sealed record TextCompletionFormat(string Model) : CompletionFormat("cmpl-" + Guid.NewGuid().ToString("N"), Model)
{
    public override CompletionEnvelope? Opening() => null;

    public override CompletionEnvelope Piece(string text) => Envelope(new TextChoice(0, text, null, null));

    public override CompletionEnvelope Closing(string finishReason) => Envelope(new TextChoice(0, "", null, finishReason));

    public override CompletionEnvelope Whole(string text, string finishReason, Usage usage) => Envelope(new TextChoice(0, text, null, finishReason)) with { Usage = usage };

    private CompletionEnvelope Envelope(TextChoice choice) => new(Id, "text_completion", Created, Model, [choice]);
}

/// <summary>/v1/chat/completions: a chat.completion, or chat.completion.chunk objects: the role, then content, then the finish reason.</summary>
internal sealed record ChatCompletionFormat(string Model) : CompletionFormat("chatcmpl-" + Guid.NewGuid().ToString("N"), Model)
{
    public override CompletionEnvelope? Opening() => Chunk(new ChatDelta("assistant", ""), null);

    public override CompletionEnvelope Piece(string text) => Chunk(new ChatDelta(Content: text), null);

    public override CompletionEnvelope Closing(string finishReason) => Chunk(new ChatDelta(), finishReason);

    public override CompletionEnvelope Whole(string text, string finishReason, Usage usage) =>
        new(Id, "chat.completion", Created, Model, [new ChatChoice(0, new AssistantMessage("assistant", text), null, finishReason)], usage);

    private CompletionEnvelope Chunk(ChatDelta delta, string? finishReason) =>
        new(Id, "chat.completion.chunk", Created, Model, [new ChatChunkChoice(0, delta, null, finishReason)]);
}
