using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// Writes a model with its adapters merged as a plain Hugging Face checkpoint: the LoRA wrappers disappear
/// from the names (<c>q_proj.base_layer.weight</c> is written as <c>q_proj.weight</c>) and no lora_* tensor is
/// written, so any HF loader (transformers, vLLM) reads it as the base architecture. 4-bit bases are refused:
/// merge into a dense base, as peft recommends.
/// </summary>
public static class MergedExport
{
    /// <param name="storedTransposed">Exported names the target layout stores (in, out), as transformers' GPT-2 Conv1D.</param>
    public static void Write(string path, nn.Module model, ScalarType dtype = ScalarType.BFloat16, Func<string, bool>? storedTransposed = null)
    {
        var layers = model.modules().OfType<LoraLinear>().ToArray();
        if (layers.Any(l => l.QuantizedBase is not null))
            throw CheckpointException.For(path, $"'{layers.First(l => l.QuantizedBase is not null).GetName()}' has a 4-bit base; export merges into a dense base (load the model unquantized, then merge)");
        var unmerged = layers.Where(l => !l.IsMerged && l.ActiveAdapters.Count > 0).Select(l => l.GetName()).ToArray();
        if (unmerged.Length > 0)
            throw CheckpointException.For(path, $"adapters are not merged in {string.Join(", ", unmerged.Take(3))}{(unmerged.Length > 3 ? " and more" : "")}; call MergeLora first");

        using var scope = NewDisposeScope();
        var tensors = model.named_parameters()
            .Where(p => !p.name.Contains(".lora_", StringComparison.Ordinal))
            .Select(p => p.name.Replace(".base_layer.", ".", StringComparison.Ordinal) is var name && storedTransposed?.Invoke(name) == true
                ? (name, p.parameter.detach().to(dtype).t().contiguous())
                : (name, p.parameter.detach().to(dtype)))
            .ToList();
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }
}
