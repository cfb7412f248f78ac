using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using LoraGen.Models.Data;
using LoraGen.Serving;

namespace LoraGen.Tests.Serve;

/// <summary>
/// A test double of <see cref="IServedModel"/> for the HTTP layer alone: it answers "{adapter or base}:{prompt}" one
/// character per token, refuses what the real model refuses (unknown adapter, prompt past the context), and can hold
/// its generations after the first token (<see cref="Hold"/>) so a test sees requests in flight.
/// </summary>
internal sealed class ScriptedModel : IServedModel
{
    private readonly ConcurrentDictionary<string, AdapterInfo> _adapters = new();
    private volatile TaskCompletionSource _release = Released();
    private int _running;

    public string BaseModelId => "tiny-base";

    public int ContextLength => 64;

    public IReadOnlyList<AdapterInfo> Adapters => [.. _adapters.Values.OrderBy(a => a.Name, StringComparer.Ordinal)];

    /// <summary>Generations started and not yet ended (finished, failed or cancelled).</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>From now on, generations wait after their first token until <see cref="Release"/>.</summary>
    public void Hold() => _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release() => _release.TrySetResult();

    public static string Reply(string? adapter, string prompt, int maxTokens)
    {
        string text = $"{adapter ?? "base"}:{prompt}";
        return text.Length <= maxTokens ? text : text[..maxTokens];
    }

    public AdapterInfo RegisterAdapter(string name, string folder)
    {
        if (!File.Exists(Path.Combine(folder, "adapter_config.json"))) throw new ServingException(ServingError.InvalidRequest, $"no adapter_config.json in '{folder}'", "lora_path");
        var info = new AdapterInfo(name, folder, "lora", 4, 1024, Loaded: true);
        return _adapters.TryAdd(name, info) ? info : throw new ServingException(ServingError.InvalidRequest, $"the name '{name}' is in use", "lora_name");
    }

    public Task UnregisterAdapterAsync(string name, CancellationToken cancel = default) =>
        _adapters.TryRemove(name, out _) ? Task.CompletedTask : throw new ServingException(ServingError.NotFound, $"no adapter '{name}'");

    public string ApplyChatTemplate(IReadOnlyList<ChatMessage> messages) =>
        string.Concat(messages.Select(m => m.Role is "system" or "user" or "assistant" ? $"<{m.Role}>{m.Content}"
            : throw new ServingException(ServingError.InvalidRequest, $"unknown role '{m.Role}'", "messages")));

    public int CountTokens(string prompt) => prompt.Length;   // one character per token, as it answers

    public async IAsyncEnumerable<TextDelta> GenerateAsync(TextRequest request, [EnumeratorCancellation] CancellationToken cancel = default)
    {
        if (request.Adapter is not null && !_adapters.ContainsKey(request.Adapter)) throw new ServingException(ServingError.NotFound, $"no adapter '{request.Adapter}'", "model");
        if (request.Prompt.Length + request.Options.MaxNewTokens > ContextLength)
            throw new ServingException(ServingError.InvalidRequest, $"the prompt and max_tokens take {request.Prompt.Length + request.Options.MaxNewTokens} tokens; the context holds {ContextLength}", "prompt");
        string reply = Reply(request.Adapter, request.Prompt, request.Options.MaxNewTokens);
        var release = _release.Task;
        Interlocked.Increment(ref _running);
        try
        {
            for (int i = 0; i < reply.Length; i++)
            {
                if (i == 1) await release.WaitAsync(cancel);
                await Task.Yield();
                cancel.ThrowIfCancellationRequested();
                yield return new TextDelta(reply[i].ToString());
            }
            yield return new TextDelta("", "length", request.Prompt.Length, reply.Length);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
    }

    private static TaskCompletionSource Released()
    {
        var released = new TaskCompletionSource();
        released.SetResult();
        return released;
    }
}
