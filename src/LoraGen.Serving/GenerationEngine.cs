using System.Threading.Channels;
using LoraGen.Adapters;
using LoraGen.Models.Attention;
using LoraGen.Models.Generation;
using LoraGen.Models.Gpt2;
using static TorchSharp.torch;

namespace LoraGen.Serving;

/// <summary>
/// Continuous batching (Orca, vLLM): one background loop runs the model. At every decode step the requests that
/// arrived join (prompts of one length prefill together, each with its adapter into its own key/value cache) and those that
/// finished or were cancelled leave; then one forward pass decodes one token for every running row, each row with
/// its own adapter (a mixed-adapter batch), its own cache and position, and its own sampling settings.
/// </summary>
public sealed class GenerationEngine : IDisposable
{
    private readonly ICausalLanguageModel _model;
    private readonly nn.Module _module;
    private readonly Device _device;                                               // the model's: token ids go there
    private readonly AdapterPool _pool;
    private readonly ServingOptions _options;
    private readonly Queue<EngineRequest> _waiting = new();                       // under its own lock
    private readonly List<EngineRequest> _running = new();                        // the loop's alone
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _loop;
    private volatile bool _stopping;
    private IDisposable? _rows;                                                    // the open mixed-batch scope, reused while the rows stay
    private (string?[] Names, long Version) _rowsKey = ([], -1);

    /// <param name="contextLength">Tokens a prompt and its completion may take together.</param>
    /// <exception cref="NotSupportedException">GPT-2: its learned positions cannot continue rows at different positions.</exception>
    public GenerationEngine(ICausalLanguageModel model, AdapterPool pool, int contextLength, ServingOptions? options = null)
    {
        if (model is Gpt2LMHeadModel)
            throw new NotSupportedException("The serving engine decodes rows at different positions with rotary attention; gpt2's learned positions are not supported (llama, mistral, qwen2, qwen3, gemma2, gemma3, phi, phi3 are).");
        _model = model;
        _module = (nn.Module)model;
        _device = _module.parameters().First().device;
        _pool = pool;
        ContextLength = contextLength;
        _options = options ?? new ServingOptions();
        if (_options.MaxRunning < 1 || _options.MaxWaiting < 0) throw new ArgumentOutOfRangeException(nameof(options), _options, "MaxRunning must be at least 1 and MaxWaiting not negative");
        _loop = new Thread(Loop) { IsBackground = true, Name = "LoraGen generation engine" };
        _loop.Start();
    }

    public int ContextLength { get; }

    /// <summary>Requests waiting to join the batch.</summary>
    public int Waiting
    {
        get
        {
            lock (_waiting) return _waiting.Count;
        }
    }

    /// <summary>Queues a request; its tokens arrive on the returned reader, which completes after the last (or with the error that ended it).</summary>
    /// <param name="cancel">Cancelling it frees the request's row at the next step; the reader then completes with OperationCanceledException.</param>
    /// <exception cref="ServingException">InvalidRequest (the field named), NotFound (unknown adapter), QueueFull.</exception>
    public ChannelReader<GeneratedToken> Submit(IReadOnlyList<long> prompt, string? adapter, GenerationOptions options, CancellationToken cancel = default)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        var lease = adapter is null ? null : _pool.Acquire(adapter);             // an unknown adapter first: the request's model is wrong
        var request = new EngineRequest(prompt.ToArray(), adapter, options, lease, cancel);
        try
        {
            Validate(prompt, options);
            lock (_waiting)
            {
                if (_waiting.Count >= _options.MaxWaiting) DropCancelled();
                if (_waiting.Count >= _options.MaxWaiting)
                    throw new ServingException(ServingError.QueueFull, $"{_waiting.Count} requests are waiting already; try again later.");
                _waiting.Enqueue(request);
            }
        }
        catch
        {
            request.Finish();
            throw;
        }
        request.Registration = cancel.Register(() => _wake.Release());                // an idle loop wakes to let it go
        _wake.Release();
        return request.Output;
    }

    /// <summary>Cancelled requests give up their places in the queue at once. Under the queue's lock.</summary>
    private void DropCancelled()
    {
        var kept = _waiting.ToArray();
        _waiting.Clear();
        foreach (var request in kept)
            if (request.Cancel.IsCancellationRequested) request.Finish(new OperationCanceledException(request.Cancel));
            else _waiting.Enqueue(request);
    }

    private void Validate(IReadOnlyList<long> prompt, GenerationOptions options)
    {
        if (options.Problem() is var (setting, problem))
        {
            string field = setting switch { nameof(GenerationOptions.MaxNewTokens) => "max_tokens", nameof(GenerationOptions.TopP) => "top_p", _ => "temperature" };
            throw new ServingException(ServingError.InvalidRequest, $"'{field}' {problem}", field);
        }
        if (prompt.Count == 0) throw new ServingException(ServingError.InvalidRequest, "The prompt has no tokens.", "prompt");
        if (prompt.Count >= ContextLength)
            throw new ServingException(ServingError.InvalidRequest, $"The prompt has {prompt.Count} tokens; this model's context is {ContextLength}, and a completion needs at least one more.", "prompt");
        if (options.MaxNewTokens > ContextLength - prompt.Count)
            throw new ServingException(ServingError.InvalidRequest,
                $"max_tokens is {options.MaxNewTokens}, but the prompt's {prompt.Count} tokens leave {ContextLength - prompt.Count} of this model's context of {ContextLength}.", "max_tokens");
    }

    private void Loop()
    {
        using var _ = no_grad();
        while (!_stopping)
        {
            if (_running.Count == 0 && Waiting == 0)
            {
                _wake.Wait();
                continue;
            }
            try
            {
                lock (_pool.ModelLock) Step();                                     // between steps the pool may load and unload
            }
            catch (Exception error)                                               // a bug in a step fails its rows, never the loop
            {
                FailRunning(error);
            }
        }
        FailRunning(new ObjectDisposedException(nameof(GenerationEngine)));
    }

    private void Step()
    {
        foreach (var request in _running.Where(r => r.Cancel.IsCancellationRequested)) request.Finish(new OperationCanceledException(request.Cancel));
        _running.RemoveAll(r => r.Finished);
        var joining = new List<EngineRequest>();
        while (_running.Count + joining.Count < _options.MaxRunning && TryDequeue() is { } request)
        {
            if (request.Cancel.IsCancellationRequested) request.Finish(new OperationCanceledException(request.Cancel));
            else joining.Add(request);
        }
        foreach (var group in joining.GroupBy(r => r.Prompt.Length))                 // prompts of one length prefill together
        {
            var requests = group.ToArray();
            try
            {
                Prefill(requests);
            }
            catch (Exception error)
            {
                foreach (var request in requests) request.Finish(error);
            }
            _running.AddRange(requests.Where(r => !r.Finished));
        }
        if (_running.Count == 0) return;
        try
        {
            Decode();
        }
        catch (Exception error)
        {
            FailRunning(error);
        }
        _running.RemoveAll(r => r.Finished);
        _pool.Trim();                                                              // adapters whose requests finished may be evicted now
    }

    private EngineRequest? TryDequeue()
    {
        lock (_waiting) return _waiting.TryDequeue(out var request) ? request : null;
    }

    /// <summary>
    /// Prompts of one length in one forward, each row with its own adapter into its own fresh cache (a batch of row
    /// caches, all at position 0); each row's last logits choose its first token.
    /// </summary>
    private void Prefill(EngineRequest[] requests)
    {
        CloseRows();                                                               // loading an adapter changes the model's layers
        foreach (var adapter in requests.Select(r => r.Adapter).OfType<string>().Distinct()) _pool.EnsureLoaded(adapter);
        using var scope = NewDisposeScope();
        foreach (var request in requests) request.Cache = new KvCache(_model.LayerCount);
        var ids = tensor(requests.SelectMany(r => r.Prompt).ToArray(), device: _device).view(requests.Length, -1);   // (rows, prompt)
        using var caches = KvCache.OfRows(requests.Select(r => r.Cache!).ToArray());
        using (ModelAdapters.UseRowAdapters(_module, requests.Select(r => r.Adapter).ToArray(), _options.Strategy))
            ChooseNext(requests, _model.Forward(ids, caches));
    }

    /// <summary>One token for every running row: one batched forward, each row with its own adapter and its own cache at its own position.</summary>
    private void Decode()
    {
        var names = _running.Select(r => r.Adapter).ToArray();
        if (_rows is null || _rowsKey.Version != _pool.Version || !_rowsKey.Names.SequenceEqual(names))
        {
            CloseRows();
            _rows = ModelAdapters.UseRowAdapters(_module, names, _options.Strategy);
            _rowsKey = (names, _pool.Version);
        }
        using var scope = NewDisposeScope();
        var ids = tensor(_running.Select(r => r.Last).ToArray(), device: _device).unsqueeze(1);   // (rows, 1)
        using var caches = KvCache.OfRows(_running.Select(r => r.Cache!).ToArray());
        ChooseNext(_running, _model.Forward(ids, caches));
    }

    /// <summary>Each request's next token, from its row's last logits with its own sampling settings.</summary>
    /// <param name="logits">(rows, tokens, vocab), row i for requests[i]</param>
    private static void ChooseNext(IReadOnlyList<EngineRequest> requests, Tensor logits)
    {
        var last = logits.select(1, -1).to(float32).cpu();                         // (rows, vocab)
        var all = last.data<float>().ToArray();
        int vocab = (int)last.shape[1];
        for (int row = 0; row < requests.Count; row++)
            requests[row].Accept(TextGeneration.Choose(all[(row * vocab)..((row + 1) * vocab)], requests[row].Options, requests[row].Random));
    }

    private void CloseRows()
    {
        _rows?.Dispose();
        _rows = null;
    }

    private void FailRunning(Exception error)
    {
        CloseRows();
        foreach (var request in _running) request.Finish(error);
        _running.Clear();
    }

    /// <summary>Stops the loop; requests still running or waiting end with ObjectDisposedException.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Release();
        _loop.Join();
        while (TryDequeue() is { } request) request.Finish(new ObjectDisposedException(nameof(GenerationEngine)));
    }
}
