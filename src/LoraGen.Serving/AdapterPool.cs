using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Serving;

/// <summary>
/// The adapters one base model serves, by name, in two tiers as S-LoRA and vLLM keep them: every registered adapter's
/// tensors in host memory (read once from its peft folder; any ranks and targets; LoRA, rsLoRA, DoRA) within a host
/// byte budget, and the ones requests use loaded into the model, on its compute device, within a device byte budget.
/// When a load would pass the device budget, the least recently used adapters that no request holds leave the model
/// (their tensors freed) and come back from their host copy when a request names them again; past the host budget the
/// least recently used host copies are dropped and read again from their folders. Thread-safe; every change to the
/// model or the host copies happens under <see cref="ModelLock"/>, which the engine holds while it computes; folders
/// are read outside it, so decoding does not wait on a disk.
/// </summary>
public sealed class AdapterPool
{
    private readonly nn.Module _model;
    private readonly long _budget, _hostBudget;
    private readonly object _lock = new();                                         // the entries; taken inside ModelLock, never around it
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _clock;

    /// <param name="byteBudget">The bytes adapters in the model may take together; adapters pinned by requests may pass it (they cannot be evicted).</param>
    /// <param name="hostByteBudget">The bytes host copies may take together (vLLM's --max-cpu-loras, in bytes).</param>
    public AdapterPool(nn.Module model, long byteBudget = long.MaxValue, long hostByteBudget = long.MaxValue)
    {
        if (byteBudget <= 0) throw new ArgumentOutOfRangeException(nameof(byteBudget), byteBudget, "the byte budget must be positive");
        if (hostByteBudget <= 0) throw new ArgumentOutOfRangeException(nameof(hostByteBudget), hostByteBudget, "the host byte budget must be positive");
        _model = model;
        _budget = byteBudget;
        _hostBudget = hostByteBudget;
    }

    /// <summary>Held by whoever computes with the model or changes its adapters.</summary>
    internal object ModelLock { get; } = new();

    /// <summary>Changes whenever the model's set of adapters changes (a load, an eviction, an unload): mixed-batch scopes opened before are stale.</summary>
    internal long Version { get; private set; }

    public IReadOnlyList<AdapterInfo> Adapters
    {
        get
        {
            lock (_lock) return _entries.Values.Where(e => e.Info is not null && !e.Closing).Select(e => e.Info!).OrderBy(i => i.Name, StringComparer.Ordinal).ToArray();
        }
    }

    /// <summary>Loads the adapter in <paramref name="folder"/> as <paramref name="name"/>; a folder that does not fit leaves the model as it was.</summary>
    /// <exception cref="ServingException">InvalidRequest for a bad folder (naming the file) or a registered name; Conflict while the name is being loaded or unloaded.</exception>
    public AdapterInfo Register(string name, string folder)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ServingException(ServingError.InvalidRequest, "An adapter needs a name.", "lora_name");
        var entry = new Entry(Path.GetFullPath(folder));
        lock (_lock)
        {
            if (_entries.TryGetValue(name, out var existing))
                throw existing.Info is null || existing.Closing
                    ? new ServingException(ServingError.Conflict, $"Adapter '{name}' is being loaded or unloaded.", "lora_name")
                    : new ServingException(ServingError.InvalidRequest, $"Adapter '{name}' is already registered (from {existing.Folder}).", "lora_name");
            _entries[name] = entry;                                                // reserves the name while it loads
        }
        PeftAdapterContent? content = null;
        try
        {
            content = PeftAdapter.Read(entry.Folder);                              // the disk, outside the model's lock
            lock (ModelLock)
            {
                var info = Load(name, entry, content);
                lock (_lock)
                {
                    entry.Info = info;
                    entry.LastUsed = ++_clock;
                    EvictFor(0, keep: name);
                }
                Keep(entry, content);
                return entry.Info!;
            }
        }
        catch (Exception error)
        {
            content?.Dispose();
            lock (_lock) _entries.Remove(name);
            throw error as ServingException ?? new ServingException(ServingError.InvalidRequest, $"Adapter '{name}' from {folder}: {error.Message}", "lora_path");
        }
    }

    /// <summary>Pins <paramref name="name"/> for one request: it is not evicted or unloaded until the lease is disposed.</summary>
    /// <exception cref="ServingException">NotFound for an unknown name or one being unloaded.</exception>
    internal IDisposable Acquire(string name)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(name, out var entry) || entry.Info is null || entry.Closing)
                throw new ServingException(ServingError.NotFound, $"The adapter '{name}' does not exist.", "model");
            entry.Pins++;
            return new Lease(this, entry);
        }
    }

    /// <summary>
    /// Puts a pinned adapter in the model (from its host copy, or its folder if that was dropped too), evicting others
    /// as the budget asks. Under <see cref="ModelLock"/>.
    /// </summary>
    internal void EnsureLoaded(string name)
    {
        Entry entry;
        lock (_lock)
        {
            entry = _entries[name];
            entry.LastUsed = ++_clock;
            if (entry.Info!.Loaded) return;
            EvictFor(entry.Info.Bytes, keep: name);
        }
        var content = entry.Host ?? PeftAdapter.Read(entry.Folder);
        try
        {
            var info = Load(name, entry, content);
            lock (_lock) entry.Info = info;
        }
        finally
        {
            Keep(entry, content);
        }
    }

    /// <summary>Keeps <paramref name="content"/> as the entry's host copy, then drops the least recently used copies past the host budget. Under <see cref="ModelLock"/>.</summary>
    private void Keep(Entry entry, PeftAdapterContent content)
    {
        lock (_lock)
        {
            entry.Host = content;
            long held = _entries.Values.Sum(e => e.Host?.Bytes ?? 0);
            foreach (var other in _entries.Values.Where(e => e.Host is not null && e != entry).OrderBy(e => e.LastUsed).ToArray())
            {
                if (held <= _hostBudget) break;
                held -= other.Host!.Bytes;
                DropHost(other);
            }
            if (held > _hostBudget) DropHost(entry);                               // not even this one fits: the folder stays its copy
        }
    }

    /// <summary>Frees an entry's host copy. Under both locks.</summary>
    private static void DropHost(Entry entry)
    {
        entry.Host?.Dispose();
        entry.Host = null;
        if (entry.Info is { } info) entry.Info = info with { InHostMemory = false };
    }

    /// <summary>Evicts unpinned adapters while the loaded ones pass the budget (pinned ones may have pushed it over). Under <see cref="ModelLock"/>.</summary>
    internal void Trim()
    {
        lock (_lock) EvictFor(0, keep: null);
    }

    /// <summary>Refuses new requests for <paramref name="name"/> at once, waits for those holding it, then removes it from the model.</summary>
    /// <exception cref="ServingException">NotFound for an unknown name.</exception>
    public async Task UnregisterAsync(string name, CancellationToken cancel = default)
    {
        Entry entry;
        lock (_lock)
        {
            if (!_entries.TryGetValue(name, out entry!) || entry.Info is null || entry.Closing)
                throw new ServingException(ServingError.NotFound, $"The adapter '{name}' does not exist.", "lora_name");
            entry.Closing = true;
            if (entry.Idle.Task.IsCompleted) entry.Idle = new(TaskCreationOptions.RunContinuationsAsynchronously);   // a cancelled unload's
            if (entry.Pins == 0) entry.Idle.TrySetResult();
        }
        try
        {
            await entry.Idle.Task.WaitAsync(cancel).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            lock (_lock) entry.Closing = false;                                    // nothing removed: it serves again
            throw;
        }
        lock (ModelLock)
        {
            if (entry.Info!.Loaded) Remove(name);
            lock (_lock)
            {
                DropHost(entry);
                _entries.Remove(name);
            }
        }
    }

    /// <summary>Evicts unpinned adapters, least recently used first, until <paramref name="incoming"/> more bytes fit. Under both locks.</summary>
    private void EvictFor(long incoming, string? keep)
    {
        long loaded = _entries.Values.Where(e => e.Info?.Loaded == true).Sum(e => e.Info!.Bytes);
        if (loaded + incoming <= _budget) return;
        foreach (var (name, entry) in _entries.Where(e => e.Key != keep && e.Value.Info?.Loaded == true && e.Value.Pins == 0).OrderBy(e => e.Value.LastUsed).ToArray())
        {
            if (loaded + incoming <= _budget) break;
            Remove(name);
            entry.Info = entry.Info! with { Loaded = false };
            loaded -= entry.Info.Bytes;
        }
    }

    /// <summary>Loads the adapter's content into the model and measures what it holds there. Under <see cref="ModelLock"/>.</summary>
    private AdapterInfo Load(string name, Entry entry, PeftAdapterContent content)
    {
        var layers = PeftAdapter.Load(_model, content, name);
        Version++;
        var config = ModelAdapters.ConfigOf(_model, name)!;
        long bytes = layers.Select(layer => layer.Adapter(name))
            .SelectMany(adapter => adapter.A.parameters().Concat(adapter.B.parameters()).Concat(adapter.Magnitude?.parameters() ?? []))
            .Sum(p => p.NumberOfElements * p.ElementSize);
        string kind = config.UseDora ? "DoRA" : config.UseRsLora ? "rsLoRA" : "LoRA";
        return new AdapterInfo(name, entry.Folder, kind, config.R, bytes, Loaded: true, InHostMemory: true);
    }

    /// <summary>Deletes the adapter from every layer; its tensors are disposed. Under <see cref="ModelLock"/>.</summary>
    private void Remove(string name)
    {
        ModelAdapters.DeleteAdapter(_model, name);
        Version++;
    }

    private void Release(Entry entry)
    {
        lock (_lock)
            if (--entry.Pins == 0 && entry.Closing) entry.Idle.TrySetResult();
    }

    private sealed class Entry(string folder)
    {
        public string Folder { get; } = folder;

        /// <summary>null while the first load runs.</summary>
        public AdapterInfo? Info { get; set; }

        /// <summary>The host copy; null once dropped past the host budget (the folder is read again).</summary>
        public PeftAdapterContent? Host { get; set; }

        public int Pins { get; set; }

        public long LastUsed { get; set; }

        /// <summary>Being unloaded: refused to new requests.</summary>
        public bool Closing { get; set; }

        /// <summary>Completes when a closing adapter's last request has finished.</summary>
        public TaskCompletionSource Idle { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Lease(AdapterPool pool, Entry entry) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) pool.Release(entry);
        }
    }
}
