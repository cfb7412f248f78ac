using LoraGen.Layers;
using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Injection;

/// <summary>
/// What the generated compile-time <c>ApplyLora(adapterName)</c> calls: the targets the
/// attributes declare, injected over the slots the generated code enumerates. The model-level rest (activation,
/// freezing, merging, unloading) is <see cref="Adapters.ModelAdapters"/>, shared with run-time adapters.
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
        LoraLinear.CheckAdapterName(adapterName);
        if (Adapters.ModelAdapters.ConfigOf(root, adapterName) is not null)
            throw new ArgumentException($"{root.GetName()} already has a run-time adapter named '{adapterName}'; the attribute's adapters need another name.", nameof(adapterName));
        var targets = new List<(LoraSlot Slot, LoraConfig Config)>();
        foreach (var slot in slots)
        {
            var config = slot.FieldConfig ?? (classTarget is not null && classTarget.Matches(slot.Path) ? classTarget.Config : null);
            if (config is null || slot.Current is null) continue;
            config.Validate($"LoRA target '{slot.Path}'");
            Adapters.LinearLayers.CheckAdaptable(root, slot.Path, slot.Current);
            targets.Add((slot, config));
        }
        if (targets.Count == 0)
            throw new InvalidOperationException($"{root.GetName()}: no layer matches the LoRA targets.");

        var before = Adapters.ModelAdapters.ActiveAdapters(root);
        var adapted = Adapters.ModelAdapters.Inject(targets, adapterName);
        Adapters.ModelAdapters.Activate(root, before.Count > 0 ? before : [adapterName]);
        return adapted;
    }
}
