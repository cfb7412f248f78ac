using LoraGen.Injection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Adapters;

/// <summary>
/// peft's <c>modules_to_save</c>: whole modules (an <c>lm_head</c>, a classifier <c>score</c>, embeddings) that an
/// adapter trains in full. peft wraps each in a copy per adapter; here the module stays where it is and holds
/// the values of the adapter that is active (or the original values when none is), while the other adapters'
/// copies and the original wait beside it. The memory is the same as peft's; the model's parameter names
/// do not change.
/// </summary>
internal sealed class ModulesToSave
{
    private readonly Dictionary<string, nn.Module> _modules = new();                                   // path → module
    private readonly Dictionary<string, Dictionary<string, Tensor>> _original = new();                 // path → parameter → values
    private readonly Dictionary<string, Dictionary<string, Dictionary<string, Tensor>>> _copies = new(); // adapter → path → parameter → values
    private readonly Dictionary<string, string> _live = new();                                          // path → adapter whose values the module holds

    /// <summary>The modules of <paramref name="root"/> each name matches (exact path or dotted suffix); a name that matches none is an error.</summary>
    public static IReadOnlyList<(string Path, nn.Module Module)> Resolve(nn.Module root, IReadOnlyList<string> names)
    {
        var modules = root.named_modules().Where(m => m.name.Length > 0 && m.module.parameters().Any()).ToArray();
        var found = new List<(string, nn.Module)>();
        foreach (var name in names)
        {
            var matches = modules.Where(m => ModulePath.Matches(m.name, name)).ToArray();
            if (matches.Length == 0)
                throw new ArgumentException($"modules_to_save entry '{name}' matches no module of {root.GetName()}; nearest: {ModuleNames.Nearest(name, modules.Select(m => m.name))}.");
            found.AddRange(matches.Select(m => (m.name, m.module)));
        }
        return found.DistinctBy(m => m.Item1).ToArray();
    }

    public IReadOnlyCollection<string> PathsOf(string adapter) =>
        _copies.TryGetValue(adapter, out var paths) ? paths.Keys : [];

    /// <summary>Gives <paramref name="adapter"/> its own copy of each module, starting from the original values.</summary>
    public void Add(string adapter, IReadOnlyList<(string Path, nn.Module Module)> modules)
    {
        if (modules.Count == 0) return;
        var copies = _copies.TryGetValue(adapter, out var existing) ? existing : _copies[adapter] = new();
        using var _ = no_grad();
        foreach (var (path, module) in modules)
        {
            _modules[path] = module;
            if (!_original.ContainsKey(path))
                _original[path] = module.named_parameters().ToDictionary(p => p.name, p => Keep(p.parameter.detach().clone()));
            copies[path] = _original[path].ToDictionary(p => p.Key, p => Keep(p.Value.clone()));
        }
    }

    /// <summary>
    /// Puts the values of the one active adapter that covers each module into it (the original where none
    /// does). Two active adapters covering the same module are refused, as in peft, before anything changes.
    /// </summary>
    public void Activate(IReadOnlyCollection<string> active)
    {
        var wanted = new Dictionary<string, string?>();
        foreach (var path in _modules.Keys)
        {
            var covering = active.Where(name => _copies.TryGetValue(name, out var paths) && paths.ContainsKey(path)).ToArray();
            if (covering.Length > 1)
                throw new InvalidOperationException($"modules_to_save '{path}' belongs to adapters '{covering[0]}' and '{covering[1]}'; only one of them can be active at a time.");
            wanted[path] = covering.FirstOrDefault();
        }
        using var _ = no_grad();
        foreach (var (path, adapter) in wanted) Show(path, adapter);
    }

    /// <summary>The parameters of modules that hold an adapter's values: they train with it.</summary>
    public IEnumerable<Parameter> LiveParameters() =>
        _live.Keys.SelectMany(path => _modules[path].parameters());

    /// <summary>(module path + "." + parameter name, values) of <paramref name="adapter"/>'s copies.</summary>
    public IEnumerable<(string Name, Tensor Values)> Tensors(string adapter)
    {
        foreach (var path in PathsOf(adapter))
            foreach (var (name, parameter) in _modules[path].named_parameters())
                yield return ($"{path}.{name}", _live.GetValueOrDefault(path) == adapter ? parameter : _copies[adapter][path][name]);
    }

    /// <summary>Replaces the values of one parameter (<c>{module path}.{parameter}</c>) of <paramref name="adapter"/>'s copy; the shape is checked by the caller.</summary>
    public void SetTensor(string adapter, string name, Tensor values)
    {
        var path = PathsOf(adapter).Where(p => name.StartsWith(p + ".", StringComparison.Ordinal)).MaxBy(p => p.Length)
                   ?? throw new KeyNotFoundException($"'{name}' is not a parameter of adapter '{adapter}''s modules_to_save");
        var parameterName = name[(path.Length + 1)..];
        using var _ = no_grad();
        var target = _live.GetValueOrDefault(path) == adapter
            ? _modules[path].named_parameters().First(p => p.name == parameterName).parameter
            : _copies[adapter][path][parameterName];
        target.copy_(values);
    }

    /// <summary>(path, parameter name, shape, dtype) of each parameter a copy holds: what a saved adapter must provide.</summary>
    public static IEnumerable<(string Path, string Name, long[] Shape, ScalarType DType)> Layout(IReadOnlyList<(string Path, nn.Module Module)> modules) =>
        modules.SelectMany(m => m.Module.named_parameters().Select(p => (m.Path, p.name, p.parameter.shape, p.parameter.dtype)));

    /// <summary>
    /// Drops <paramref name="adapter"/>'s copies; a module that showed them gets its original values back, and a
    /// module no adapter covers any more is forgotten (its original values freed).
    /// </summary>
    public void Delete(string adapter)
    {
        if (!_copies.Remove(adapter, out var paths)) return;
        using var _ = no_grad();
        foreach (var (path, copy) in paths)
        {
            if (_live.GetValueOrDefault(path) == adapter)
            {
                Load(path, _original[path]);
                _live.Remove(path);
            }
            foreach (var t in copy.Values) t.Dispose();
            if (_copies.Values.Any(other => other.ContainsKey(path))) continue;
            foreach (var t in _original[path].Values) t.Dispose();
            _original.Remove(path);
            _modules.Remove(path);
        }
    }

    /// <summary>Whether <paramref name="path"/> is one of the modules some adapter saves in full.</summary>
    public bool Covers(string path) => _modules.ContainsKey(path);

    /// <summary>
    /// Ends modules_to_save: each module keeps the active adapter's values (<paramref name="keepActive"/>, as a
    /// merge does) or gets its original values back, and every copy is freed.
    /// </summary>
    public void Unload(bool keepActive)
    {
        using (no_grad())
            if (!keepActive)
                foreach (var path in _live.Keys.ToArray()) Load(path, _original[path]);
        foreach (var t in _copies.Values.SelectMany(p => p.Values).SelectMany(c => c.Values).Concat(_original.Values.SelectMany(c => c.Values)))
            t.Dispose();
        _copies.Clear();
        _original.Clear();
        _live.Clear();
        _modules.Clear();
    }

    private void Show(string path, string? adapter)
    {
        var current = _live.GetValueOrDefault(path);
        if (current == adapter) return;
        if (current is not null)
            foreach (var (name, parameter) in _modules[path].named_parameters()) _copies[current][path][name].copy_(parameter);
        Load(path, adapter is null ? _original[path] : _copies[adapter][path]);
        if (adapter is null) _live.Remove(path);
        else _live[path] = adapter;
    }

    private void Load(string path, Dictionary<string, Tensor> values)
    {
        foreach (var (name, parameter) in _modules[path].named_parameters()) parameter.copy_(values[name]);
    }

    private static Tensor Keep(Tensor tensor)
    {
        tensor.DetachFromDisposeScope();
        return tensor;
    }
}
