using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// Named submodules that may be added and removed after registration, one per adapter name.
/// TorchSharp's ModuleDict registers only what it holds when first registered, so adapters added
/// later would have no parameters; this container registers each entry as it arrives.
/// Parameter names read <c>{slot}.{adapter}.{param}</c>, as peft's ModuleDicts do.
/// </summary>
public sealed class ModuleSlots<T> : nn.Module where T : nn.Module
{
    public ModuleSlots(string name) : base(name) { }

    public T this[string key] => (T)_internal_submodules[key];

    public void Add(string key, T module) => register_module(key, module);

    /// <summary>Removes and disposes the entry.</summary>
    public void Remove(string key)
    {
        var module = _internal_submodules[key];
        _internal_submodules.Remove(key);
        module.Dispose();
    }
}
