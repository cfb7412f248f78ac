using System.Runtime.CompilerServices;
using LoraGen.Models.Generation;
using Microsoft.Extensions.AI;

namespace LoraGen.Serving;

/// <summary>
/// Microsoft.Extensions.AI's chat client over a served model: <see cref="ChatOptions.ModelId"/> picks the adapter
/// (null or the base model's id: the base alone); Temperature, TopP, MaxOutputTokens and Seed map onto
/// <see cref="GenerationOptions"/> (greedy when Temperature is not given). Disposing it leaves the model alone.
/// </summary>
public sealed class ServedChatClient(IServedModel model, int defaultMaxOutputTokens = 256) : IChatClient
{
    private readonly ChatClientMetadata _metadata = new("loragen", defaultModelId: model.BaseModelId);

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (options?.StopSequences is { Count: > 0 })
            throw new ServingException(ServingError.InvalidRequest, "Stop sequences are not supported; the model stops at its end tokens.", "stop");
        var conversation = messages.Select(m => new Models.Data.ChatMessage(m.Role.Value, m.Text)).ToArray();
        string? adapter = options?.ModelId is { } id && id != model.BaseModelId ? id : null;
        var generation = new GenerationOptions(
            MaxNewTokens: options?.MaxOutputTokens ?? defaultMaxOutputTokens,
            Temperature: options?.Temperature ?? 0,
            TopP: options?.TopP ?? 1.0,
            Seed: options?.Seed is { } seed ? unchecked((int)(seed ^ (seed >> 32))) : 0);
        var request = new TextRequest(model.ApplyChatTemplate(conversation), adapter, generation);
        string responseId = Guid.NewGuid().ToString("N"), modelId = adapter ?? model.BaseModelId;
        var created = DateTimeOffset.UtcNow;
        await foreach (var delta in model.GenerateAsync(request, cancellationToken).ConfigureAwait(false))
        {
            var update = new ChatResponseUpdate(ChatRole.Assistant, delta.Text) { ResponseId = responseId, MessageId = responseId, ModelId = modelId, CreatedAt = created };
            if (delta.FinishReason is { } reason)
            {
                update.FinishReason = reason == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length;
                update.Contents.Add(new UsageContent(new UsageDetails
                {
                    InputTokenCount = delta.PromptTokens,
                    OutputTokenCount = delta.CompletionTokens,
                    TotalTokenCount = delta.PromptTokens + delta.CompletionTokens,
                }));
            }
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : serviceType.IsInstanceOfType(model) ? model
            : null;
    }

    public void Dispose()
    {
    }
}
