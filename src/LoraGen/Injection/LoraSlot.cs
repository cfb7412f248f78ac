using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Injection;

/// <summary>
/// One swappable layer field of a model, found by generated code (no reflection): its module path, the
/// settings of a field-level <see cref="LoraTargetAttribute"/> if it has one, and accessors that read the
/// field and replace it (field and registered submodule together).
/// </summary>
public sealed class LoraSlot(string path, LoraConfig? fieldConfig, Func<nn.Module<Tensor, Tensor>?> get, Action<nn.Module<Tensor, Tensor>> replace)
{
    public string Path { get; } = path;

    public LoraConfig? FieldConfig { get; } = fieldConfig;

    /// <summary>The layer the field holds now; null for an empty (nullable) field, e.g. an lm_head tied away.</summary>
    public nn.Module<Tensor, Tensor>? Current => get();

    public void Replace(nn.Module<Tensor, Tensor> module) => replace(module);
}
