namespace LoraGen.Layers;

/// <summary>
/// The bookkeeping of a <see cref="LoraLinear"/>'s adapters, as peft's layer keeps it: names, the active set
/// (summed in the forward pass, and the only ones that train), the merged stack (unmerged newest first) and
/// whether adapters are disabled.
/// </summary>
internal sealed class AdapterRegistry
{
    private readonly Dictionary<string, LoraAdapter> _adapters = new();
    private readonly List<string> _active = new();
    private readonly List<string> _merged = new();

    public IReadOnlyCollection<string> Names => _adapters.Keys;

    public IEnumerable<LoraAdapter> All => _adapters.Values;

    public IReadOnlyList<string> Active => _active;

    public IReadOnlyList<string> Merged => _merged;

    public bool Disabled { get; set; }

    /// <summary>The active adapters not merged into the base: those the forward pass computes.</summary>
    public IEnumerable<LoraAdapter> Pending => _active.Where(name => !_merged.Contains(name)).Select(name => _adapters[name]);

    public bool Contains(string name) => _adapters.ContainsKey(name);

    public bool IsMerged(string name) => _merged.Contains(name);

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out LoraAdapter adapter) => _adapters.TryGetValue(name, out adapter);

    public void Add(LoraAdapter adapter) => _adapters.Add(adapter.Name, adapter);

    public void Remove(string name)
    {
        _adapters.Remove(name);
        _active.Remove(name);
    }

    /// <summary>Makes exactly <paramref name="names"/> active (each must exist) and freezes the others.</summary>
    public void Activate(IEnumerable<string> names)
    {
        _active.Clear();
        _active.AddRange(names.Distinct());
        foreach (var adapter in _adapters.Values) adapter.SetTrainable(_active.Contains(adapter.Name));
    }

    public void PushMerged(string name) => _merged.Add(name);

    public void ClearMerged() => _merged.Clear();
}
