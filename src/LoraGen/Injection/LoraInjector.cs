using LoraGen.Layers;
using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Injection;

/// <summary>
/// What generated <c>ApplyLora</c>, <c>MergeLora</c> and <c>UnmergeLora</c> call: injection over the slots
/// the generated code enumerates, and freezing as peft's <c>get_peft_model</c> does.
/// </summary>
public static class LoraInjector
{
    /// <summary>
    /// Wraps every targeted slot in a <see cref="LoraLinear"/> (or adds <paramref name="adapterName"/> to one
    /// already there), then freezes every parameter of <paramref name="root"/> except the adapters' and the
    /// biases the bias modes train. Every target is checked before anything changes, so a failure leaves
    /// the model as it was. Applying a name twice changes nothing.
    /// </summary>
    /// <returns>The adapted layers, in slot order.</returns>
    public static IReadOnlyList<LoraLinear> Apply(nn.Module root, IEnumerable<LoraSlot> slots, string adapterName, LoraClassTarget? classTarget)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adapterName);
        var targets = new List<(LoraSlot Slot, LoraConfig Config)>();
        foreach (var slot in slots)
        {
            var config = slot.FieldConfig ?? (classTarget is not null && classTarget.Matches(slot.Path) ? classTarget.Config : null);
            if (config is null || slot.Current is null) continue;
            config.Validate($"LoRA target '{slot.Path}'");
            if (slot.Current is not (Linear or FourBitLinear or LoraLinear))
                throw new InvalidOperationException(
                    $"LoRA target '{slot.Path}' of {root.GetName()} holds a {slot.Current!.GetType().Name}; only Linear layers (dense or 4-bit) can be adapted.");
            targets.Add((slot, config));
        }
        if (targets.Count == 0)
            throw new InvalidOperationException($"{root.GetName()}: no layer matches the LoRA targets.");

        var adapted = new List<LoraLinear>();
        foreach (var (slot, config) in targets)
        {
            if (slot.Current is LoraLinear existing)
            {
                if (!existing.AdapterNames.Contains(adapterName)) existing.AddAdapter(adapterName, config);
                adapted.Add(existing);
                continue;
            }
            var layer = new LoraLinear(slot.Current!, config, slot.Path, adapterName);
            slot.Replace(layer);
            adapted.Add(layer);
        }

        bool allBiases = targets.Any(t => t.Config.Bias == LoraBias.All) || classTarget?.Config.Bias == LoraBias.All;
        Freeze(root, adapted, allBiases);
        return adapted;
    }

    /// <summary>
    /// QLoRA's frozen base: every Linear among <paramref name="slots"/>, except <c>lm_head</c> (as bitsandbytes
    /// skips it), is replaced by its 4-bit quantization, one layer at a time so the dense copy of only one
    /// layer exists at once. Layers already adapted keep their adapters. Works before or after ApplyLora.
    /// </summary>
    /// <returns>How many layers were quantized.</returns>
    public static int QuantizeBase(IEnumerable<LoraSlot> slots, QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true)
    {
        int quantized = 0;
        foreach (var slot in slots)
        {
            if (slot.Path == "lm_head" || slot.Path.EndsWith(".lm_head", StringComparison.Ordinal)) continue;
            switch (slot.Current)
            {
                case Linear dense:
                    slot.Replace(FourBitLinear.FromLinear(dense, type, blockSize, doubleQuantize, slot.Path));
                    dense.Dispose();
                    quantized++;
                    break;
                case LoraLinear { QuantizedBase: null } adapted:
                    adapted.QuantizeBase(type, blockSize, doubleQuantize);
                    quantized++;
                    break;
            }
        }
        return quantized;
    }

    /// <summary>The layers currently adapted among <paramref name="slots"/>.</summary>
    public static IEnumerable<LoraLinear> AdaptedLayers(IEnumerable<LoraSlot> slots) =>
        slots.Select(slot => slot.Current).OfType<LoraLinear>();

    /// <summary>
    /// Merges the active adapters of every adapted layer that is not merged yet, all or nothing: every layer is
    /// checked first (with <paramref name="safe"/>, that its merged weight is finite), so a refusal changes no
    /// layer; should a merge still fail midway, the layers merged before it are unmerged again.
    /// </summary>
    public static void Merge(IEnumerable<LoraSlot> slots, bool safe = false)
    {
        var layers = AdaptedLayers(slots).Where(layer => !layer.IsMerged).ToArray();
        if (layers.Length == 0) throw new InvalidOperationException("No unmerged LoRA layer to merge; call ApplyLora() first, or the model is merged already.");
        foreach (var layer in layers) layer.CheckMerge(safe: safe);
        var merged = new List<LoraLinear>();
        try
        {
            foreach (var layer in layers)
            {
                layer.Merge();
                merged.Add(layer);
            }
        }
        catch
        {
            foreach (var layer in merged) layer.Unmerge();
            throw;
        }
    }

    /// <summary>Unmerges every merged layer.</summary>
    public static void Unmerge(IEnumerable<LoraSlot> slots)
    {
        var layers = AdaptedLayers(slots).Where(layer => layer.IsMerged).ToArray();
        if (layers.Length == 0) throw new InvalidOperationException("No merged LoRA layer to unmerge.");
        foreach (var layer in layers) layer.Unmerge();
    }

    /// <summary>True when there are adapted layers and every one of them is merged.</summary>
    public static bool IsMerged(IEnumerable<LoraSlot> slots)
    {
        var layers = AdaptedLayers(slots).ToArray();
        return layers.Length > 0 && layers.All(layer => layer.IsMerged);
    }

    private static void Freeze(nn.Module root, IReadOnlyList<LoraLinear> adapted, bool allBiases)
    {
        // What the adapted layers themselves train: A, B, DoRA magnitudes, and base biases per bias mode.
        var keep = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var layer in adapted)
            foreach (var parameter in layer.parameters())
                if (parameter.requires_grad) keep.Add(parameter);

        foreach (var (name, parameter) in root.named_parameters())
        {
            bool isBias = name == "bias" || name.EndsWith(".bias", StringComparison.Ordinal);
            parameter.requires_grad = keep.Contains(parameter) || (allBiases && isBias);
        }
    }
}
