using System.Runtime.CompilerServices;
using LoraGen.Injection;
using LoraGen.Layers;
using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Adapters;

/// <summary>
/// The model-level adapter API peft users know (<c>get_peft_model</c> with a config, <c>set_adapter</c>,
/// <c>disable_adapter</c>, <c>delete_adapter</c>, <c>merge_and_unload</c>, <c>unload</c>), over the layer slots the
/// source generator writes for a <see cref="LoraModelAttribute"/> or <see cref="LoraTargetAttribute"/> class. The
/// generated methods of such a class call it; it takes any such model, no reflection.
/// </summary>
public static class ModelAdapters
{
    /// <summary>What a model holds beside its layers: each run-time adapter's config and the modules_to_save copies.</summary>
    private sealed class State
    {
        public Dictionary<string, PeftLoraConfig> Configs { get; } = new();

        public ModulesToSave Saved { get; } = new();
    }

    private static readonly ConditionalWeakTable<nn.Module, State> States = new();

    private static State StateOf(nn.Module model) => States.GetValue(model, _ => new State());

    /// <summary>The model's layer slots, from its generated code.</summary>
    internal static IReadOnlyList<LoraSlot> Slots(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model is ILoraComposite composite
            ? composite.LoraSlots("").ToArray()
            : throw new ArgumentException($"{model.GetType().Name} has no generated LoRA slots: mark the class [LoraModel] (or [LoraTarget]) and declare it and its module classes partial.", nameof(model));
    }

    /// <summary>The adapted layers of <paramref name="model"/>, in slot order.</summary>
    public static IReadOnlyList<LoraLinear> Layers(nn.Module model) => Slots(model).Select(s => s.Current).OfType<LoraLinear>().ToArray();

    /// <summary>Every adapter name on the model, in order of first appearance.</summary>
    public static IReadOnlyList<string> AdapterNames(nn.Module model) => Layers(model).SelectMany(l => l.AdapterNames).Distinct().ToArray();

    /// <summary>The adapters the model computes with, in order of first appearance.</summary>
    public static IReadOnlyList<string> ActiveAdapters(nn.Module model) => Layers(model).SelectMany(l => l.ActiveAdapters).Distinct().ToArray();

    /// <summary>The module paths of the model's layer slots (what targets are matched against).</summary>
    internal static IReadOnlyList<string> SlotPaths(nn.Module model) => Slots(model).Select(s => s.Path).ToArray();

    /// <summary>(module path + "." + parameter, values) of an adapter's modules_to_save copies.</summary>
    internal static IEnumerable<(string Name, Tensor Values)> ModulesToSaveTensors(nn.Module model, string adapterName) =>
        StateOf(model).Saved.Tensors(adapterName);

    internal static void SetModulesToSaveTensor(nn.Module model, string adapterName, string name, Tensor values) =>
        StateOf(model).Saved.SetTensor(adapterName, name, values);

    /// <summary>The run-time configuration an adapter was created with, or null for one declared at compile time.</summary>
    public static PeftLoraConfig? ConfigOf(nn.Module model, string adapterName) =>
        StateOf(model).Configs.GetValueOrDefault(adapterName);

    /// <summary>
    /// peft's <c>get_peft_model</c> / <c>add_adapter</c>: adds adapter <paramref name="adapterName"/> to every layer
    /// <paramref name="config"/> selects, and its modules_to_save copies. On a model with no active adapter (the
    /// first one) it becomes active; otherwise it waits, frozen, until <see cref="SetActiveAdapters"/>. Everything
    /// is checked first, so a refusal leaves the model as it was.
    /// </summary>
    /// <returns>The layers that hold the new adapter.</returns>
    public static IReadOnlyList<LoraLinear> Apply(nn.Module model, PeftLoraConfig config, string adapterName = "default") =>
        Apply(model, Plan(model, config, adapterName));

    /// <summary>Refuses a name that is not an adapter of <paramref name="model"/>, listing the ones it has.</summary>
    internal static void RequireKnown(nn.Module model, IEnumerable<string> adapterNames)
    {
        var known = AdapterNames(model);
        foreach (var name in adapterNames)
            if (!known.Contains(name))
                throw new KeyNotFoundException($"{model.GetName()} has no adapter '{name}' (adapters: {string.Join(", ", known)}).");
    }

    /// <summary>Refuses a name a new adapter cannot take: malformed, or already used on <paramref name="model"/>.</summary>
    internal static void RequireNewName(nn.Module model, string adapterName)
    {
        LoraLinear.CheckAdapterName(adapterName);
        if (AdapterNames(model).Contains(adapterName))
            throw new ArgumentException($"{model.GetName()} already has an adapter named '{adapterName}'; delete it first or choose another name.", nameof(adapterName));
    }

    /// <summary>Where a run-time adapter goes, decided without changing the model.</summary>
    internal sealed record AdapterPlan(
        string AdapterName, PeftLoraConfig? Config, IReadOnlyList<(LoraSlot Slot, LoraConfig Settings)> Targets,
        IReadOnlyList<(string Path, nn.Module Module)> ModulesToSave);

    internal static AdapterPlan Plan(nn.Module model, PeftLoraConfig config, string adapterName)
    {
        ArgumentNullException.ThrowIfNull(config);
        RequireNewName(model, adapterName);
        config.Validate();
        var slots = Slots(model);
        var targets = new List<(LoraSlot, LoraConfig)>();
        foreach (var slot in slots)
        {
            var current = slot.Current;
            if (current is null || !config.Targets(slot.Path, LinearLayers.IsAdaptable(current))) continue;
            LinearLayers.CheckAdaptable(model, slot.Path, current);
            var settings = config.LayerConfigFor(slot.Path);
            settings.Validate($"LoRA target '{slot.Path}'");
            targets.Add((slot, settings));
        }
        if (targets.Count == 0)
            throw new ArgumentException(
                $"Target modules {config.TargetModules} not found in {model.GetName()}; nearest module names: {NearestToTargets(config.TargetModules, slots)}.", nameof(config));
        var saved = config.ModulesToSave is { Count: > 0 } names ? ModulesToSave.Resolve(model, names) : [];
        return new AdapterPlan(adapterName, config, targets, saved);
    }

    internal static IReadOnlyList<LoraLinear> Apply(nn.Module model, AdapterPlan plan)
    {
        var before = ActiveAdapters(model);
        var adapted = Inject(plan.Targets, plan.AdapterName);
        var state = StateOf(model);
        if (plan.Config is not null) state.Configs[plan.AdapterName] = plan.Config;
        state.Saved.Add(plan.AdapterName, plan.ModulesToSave);
        Activate(model, before.Count > 0 ? before : [plan.AdapterName]);
        return adapted;
    }

    /// <summary>Wraps each target in a <see cref="LoraLinear"/> or adds the adapter to the one already there.</summary>
    internal static IReadOnlyList<LoraLinear> Inject(IReadOnlyList<(LoraSlot Slot, LoraConfig Settings)> targets, string adapterName)
    {
        var adapted = new List<LoraLinear>();
        foreach (var (slot, settings) in targets)
        {
            if (slot.Current is LoraLinear existing)
            {
                if (!existing.AdapterNames.Contains(adapterName)) existing.AddAdapter(adapterName, settings);
                adapted.Add(existing);
                continue;
            }
            var layer = new LoraLinear(slot.Current!, settings, slot.Path, adapterName);
            slot.Replace(layer);
            adapted.Add(layer);
        }
        return adapted;
    }

    /// <summary>
    /// peft's <c>set_adapter</c>: the model computes with exactly these adapters (each layer with those it holds),
    /// they train and every other adapter is frozen; modules_to_save show the active adapter's copy. A merged model
    /// is unmerged first, as peft does, so that no other adapter stays in the weights.
    /// </summary>
    public static void SetActiveAdapters(nn.Module model, params string[] adapterNames)
    {
        RequireKnown(model, adapterNames);
        if (Layers(model).Any(layer => layer.IsMerged)) Unmerge(model);
        Activate(model, adapterNames);
    }

    internal static void Activate(nn.Module model, IReadOnlyCollection<string> adapterNames)
    {
        var state = StateOf(model);
        state.Saved.Activate(adapterNames);                              // may refuse: before any layer changes
        foreach (var layer in Layers(model))
            layer.SetActiveAdapters(adapterNames.Where(layer.AdapterNames.Contains).ToArray());
        Freeze(model);
    }

    /// <summary>
    /// Freezes every parameter of the model except what the active adapters train: their A, B and DoRA
    /// magnitudes, the biases their bias modes name, and their modules_to_save.
    /// </summary>
    internal static void Freeze(nn.Module model)
    {
        var layers = Layers(model);
        var keep = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var layer in layers)
            foreach (var parameter in layer.parameters())
                if (parameter.requires_grad) keep.Add(parameter);
        foreach (var parameter in StateOf(model).Saved.LiveParameters()) keep.Add(parameter);
        bool allBiases = layers.Any(layer => layer.ActiveAdapters.Any(name => layer.Adapter(name).Config.Bias == LoraBias.All));
        foreach (var (name, parameter) in model.named_parameters())
            parameter.requires_grad = keep.Contains(parameter) || (allBiases && LinearLayers.IsBias(name));
    }

    /// <summary>
    /// peft's <c>disable_adapter()</c>: until disposed the model computes as its base (merged layers computing with
    /// their pre-merge weights, modules_to_save with their originals).
    /// </summary>
    public static IDisposable DisableAdapters(nn.Module model)
    {
        var active = ActiveAdapters(model);
        var state = StateOf(model);
        var restore = new List<IDisposable>();
        try
        {
            foreach (var layer in Layers(model)) restore.Add(layer.DisableAdapters());
            state.Saved.Activate([]);
        }
        catch
        {
            RestoreAll(restore, () => { });
            throw;
        }
        return new OnDispose(() => RestoreAll(restore, () => state.Saved.Activate(active)));
    }

    /// <summary>
    /// peft's <c>model(..., adapter_names=[...])</c>, and S-LoRA's mixed batches: until disposed, row i of every batch
    /// (the first dimension of the input) computes with adapter <paramref name="rowAdapters"/>[i], or with the base
    /// alone where it is null, whatever the active set. Each row's output equals running it alone with its adapter.
    /// Unmerged adapters only (a merged one is in every row's weights). The rows are the model's state while the scope
    /// lasts: one mixed batch at a time per model (a serving engine runs its batches one after another). Gather stacks
    /// the rows' weights once per scope: adapter weights changed inside a scope are seen by the next scope.
    /// </summary>
    public static IDisposable UseRowAdapters(nn.Module model, IReadOnlyList<string?> rowAdapters, MixedBatchStrategy strategy = MixedBatchStrategy.Segment)
    {
        RequireKnown(model, rowAdapters.OfType<string>().Distinct());
        var layers = Layers(model);
        if (layers.FirstOrDefault(l => l.IsMerged) is { } merged)
            throw new InvalidOperationException($"{model.GetName()}: mixed-adapter batches need unmerged adapters; '{merged.GetName()}' has {string.Join(", ", merged.MergedAdapters)} merged (UnmergeLora first).");
        var rows = new RowAdapters(rowAdapters.ToArray(), strategy);
        var previous = layers.Select(layer => layer.Rows).ToArray();           // nested scopes restore the outer one
        foreach (var layer in layers) layer.Rows = rows;
        return new OnDispose(() =>
        {
            for (int i = 0; i < layers.Count; i++) layers[i].Rows = previous[i];
            foreach (var stacked in rows.Gathered.Values) stacked.Dispose();
            rows.Gathered.Clear();
        });
    }

    /// <summary>Ends every scope and runs <paramref name="last"/>, each whatever the others throw; then throws what they threw.</summary>
    private static void RestoreAll(IEnumerable<IDisposable> scopes, Action last)
    {
        var errors = new List<Exception>();
        foreach (var step in scopes.Select(scope => (Action)scope.Dispose).Append(last))
        {
            try
            {
                step();
            }
            catch (Exception e)
            {
                errors.Add(e);
            }
        }
        if (errors.Count == 1) throw errors[0];
        if (errors.Count > 1) throw new AggregateException(errors);
    }

    /// <summary>
    /// peft's <c>delete_adapter</c>: removes the adapter from every layer (a layer left with none becomes its plain
    /// base again) and its modules_to_save copies. Refused while it is merged anywhere. If it was the only active
    /// adapter, the alphabetically first remaining one becomes active, as in peft; otherwise the active set keeps
    /// the others.
    /// </summary>
    public static void DeleteAdapter(nn.Module model, string adapterName)
    {
        RequireKnown(model, [adapterName]);
        var merged = Layers(model).Where(l => l.MergedAdapters.Contains(adapterName)).Select(l => l.GetName()).ToArray();
        if (merged.Length > 0)
            throw new InvalidOperationException($"Cannot delete adapter '{adapterName}' while it is merged (in {string.Join(", ", merged.Take(3))}{(merged.Length > 3 ? ", ..." : "")}); unmerge first.");

        var wasActive = ActiveAdapters(model).Contains(adapterName);
        var active = ActiveAdapters(model).Where(name => name != adapterName).ToList();
        foreach (var slot in Slots(model))
        {
            if (slot.Current is not LoraLinear layer || !layer.AdapterNames.Contains(adapterName)) continue;
            layer.DeleteAdapter(adapterName);
            if (layer.AdapterNames.Count == 0) Unwrap(slot, layer);
        }
        var state = StateOf(model);
        state.Saved.Delete(adapterName);
        state.Configs.Remove(adapterName);
        var remaining = AdapterNames(model);
        if (wasActive && active.Count == 0 && remaining.Count > 0) active.Add(remaining.Order(StringComparer.Ordinal).First());
        Activate(model, active);
    }

    /// <summary>
    /// Merges every active adapter not merged yet into its layer, all or nothing: every layer is checked first
    /// (with <paramref name="safe"/>, that its merged weight is finite), so a refusal changes no layer; should a
    /// merge still fail midway, the layers merged before it are unmerged again (the failing layer takes back its own).
    /// </summary>
    public static void Merge(nn.Module model, bool safe = false)
    {
        var pending = Layers(model).Select(layer => (Layer: layer, Names: Pending(layer))).Where(p => p.Names.Length > 0).ToArray();
        if (pending.Length == 0) throw new InvalidOperationException($"{model.GetName()} has no unmerged active adapter to merge; apply an adapter first, or the model is merged already.");
        foreach (var (layer, names) in pending) layer.CheckMerge(names, safe);
        var merged = new List<LoraLinear>();
        try
        {
            foreach (var (layer, names) in pending)
            {
                layer.Merge(names);
                merged.Add(layer);
            }
        }
        catch
        {
            foreach (var layer in merged) layer.Unmerge();
            throw;
        }
    }

    /// <summary>The active adapters of <paramref name="layer"/> that are not merged into it.</summary>
    private static string[] Pending(LoraLinear layer) => layer.ActiveAdapters.Except(layer.MergedAdapters).ToArray();

    /// <summary>Unmerges every merged layer.</summary>
    public static void Unmerge(nn.Module model)
    {
        var layers = Layers(model).Where(layer => layer.IsMerged).ToArray();
        if (layers.Length == 0) throw new InvalidOperationException($"{model.GetName()} has no merged LoRA layer to unmerge.");
        foreach (var layer in layers) layer.Unmerge();
    }

    /// <summary>True when the model has active adapters and every one of them is merged into its layers.</summary>
    public static bool IsMerged(nn.Module model)
    {
        var layers = Layers(model).Where(layer => layer.ActiveAdapters.Count > 0).ToArray();
        return layers.Length > 0 && layers.All(layer => Pending(layer).Length == 0);
    }

    /// <summary>
    /// peft's <c>merge_and_unload</c>: merges the active adapters (all or nothing), then puts each layer's base
    /// back in its place; modules_to_save keep the active adapter's values. The model is then a plain model
    /// again, with the base's parameter names.
    /// </summary>
    public static void MergeAndUnload(nn.Module model, bool safe = false)
    {
        if (Layers(model).Any(layer => Pending(layer).Length > 0)) Merge(model, safe);
        UnwrapAll(model, keepModulesToSave: true);
    }

    /// <summary>
    /// peft's <c>unload</c>: puts each layer's base back without the adapters (merged layers are unmerged first, so
    /// the base is what it was; a 4-bit base gets its codes back exactly). Unlike peft, modules_to_save get their
    /// original values back too: unload gives back the model as it was before the adapters.
    /// </summary>
    public static void Unload(nn.Module model)
    {
        foreach (var layer in Layers(model).Where(layer => layer.IsMerged)) layer.Unmerge();
        UnwrapAll(model, keepModulesToSave: false);
    }

    /// <summary>
    /// QLoRA's frozen base: every Linear slot (adapted or not) except lm_head and the modules saved in full
    /// (modules_to_save) gets its 4-bit quantization, one layer at a time so that only one dense copy exists at
    /// once. Every layer is checked first (none merged or disabled), so a refusal changes nothing; the trainable
    /// state is the same afterwards, whichever of QuantizeBase and ApplyLora ran first.
    /// </summary>
    /// <returns>How many layers were quantized.</returns>
    public static int QuantizeBase(nn.Module model, QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true)
    {
        var saved = StateOf(model).Saved;
        var slots = Slots(model).Where(slot => !ModuleSelector.IsOutputHead(slot.Path) && !saved.Covers(slot.Path)).ToArray();
        var blocked = slots.Select(s => s.Current).OfType<LoraLinear>().FirstOrDefault(l => l.IsMerged || l.AdaptersDisabled);
        if (blocked is not null)
            throw new InvalidOperationException($"LoraLinear '{blocked.GetName()}' is merged or has its adapters disabled; unmerge (or end DisableAdapters) before QuantizeBase.");
        foreach (var slot in slots)
            if (slot.Current is Linear or LoraLinear { QuantizedBase: null } && LinearLayers.Size(slot.Current) is var (inFeatures, outFeatures) && inFeatures * outFeatures % blockSize != 0)
                throw new ArgumentException($"'{slot.Path}' ({outFeatures} x {inFeatures}) cannot be quantized in blocks of {blockSize}; nothing was quantized. Save it in full (modules_to_save) or choose another block size.", nameof(blockSize));
        int quantized = 0;
        foreach (var slot in slots)
        {
            switch (slot.Current)
            {
                case Linear dense:
                    var fourBit = FourBitLinear.FromLinear(dense, type, blockSize, doubleQuantize, slot.Path);
                    if (fourBit.Bias is { } bias && dense.bias is { } denseBias) bias.requires_grad = denseBias.requires_grad;
                    slot.Replace(fourBit);
                    dense.Dispose();
                    quantized++;
                    break;
                case LoraLinear { QuantizedBase: null } adapted:
                    adapted.QuantizeBase(type, blockSize, doubleQuantize);
                    quantized++;
                    break;
            }
        }
        if (Layers(model).Count > 0) Freeze(model);
        return quantized;
    }

    /// <summary>Exactly the parameters that train (requires_grad): what an optimizer takes.</summary>
    public static IEnumerable<Parameter> TrainableParameters(nn.Module model) => model.parameters().Where(p => p.requires_grad);

    private static void UnwrapAll(nn.Module model, bool keepModulesToSave)
    {
        foreach (var slot in Slots(model))
            if (slot.Current is LoraLinear layer) Unwrap(slot, layer);
        var state = StateOf(model);
        state.Saved.Unload(keepModulesToSave);
        state.Configs.Clear();
    }

    private static void Unwrap(LoraSlot slot, LoraLinear layer)
    {
        slot.Replace(layer.ReleaseBase());
        layer.Dispose();
    }

    /// <summary>For each target name (or the pattern), the module names nearest to it.</summary>
    private static string NearestToTargets(ModuleSelector? selector, IReadOnlyList<LoraSlot> slots)
    {
        var paths = slots.Select(s => s.Path).ToArray();
        return selector switch
        {
            ModuleSelector.NameList names => string.Join("; ", names.Items.Select(name => $"'{name}': {ModuleNames.Nearest(name, paths)}")),
            ModuleSelector.RegexPattern pattern => ModuleNames.Nearest(pattern.Regex, paths),
            _ => ModuleNames.Nearest("", paths),
        };
    }
}
