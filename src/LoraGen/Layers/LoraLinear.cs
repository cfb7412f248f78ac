using LoraGen.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// A frozen Linear (dense, or 4-bit <see cref="FourBitLinear"/> for QLoRA) plus named low-rank adapters:
/// y = W·x + b + Σ scaling·B·A·dropout(x) over the active adapters. Drop-in for the wrapped layer; parameter
/// names follow peft (<c>base_layer.weight</c>, <c>lora_A.default.weight</c>, <c>lora_B.default.weight</c>,
/// <c>lora_magnitude_vector.default.weight</c>). Built along peft's three axes: a <see cref="FrozenBase"/>
/// (dense or 4-bit), adapter variants (<see cref="LoraAdapter"/>: LoRA or DoRA) and their registry (names,
/// active set, merged stack, disabled state).
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private FrozenBase _base;
    private readonly AdapterRegistry _registry = new();
    private readonly ModuleSlots<Linear> _loraA = new("lora_A");
    private readonly ModuleSlots<Linear> _loraB = new("lora_B");
    private readonly ModuleSlots<nn.Module<Tensor, Tensor>> _dropouts = new("lora_dropout");
    private readonly ModuleSlots<DoraMagnitude> _magnitudes = new("lora_magnitude_vector");

    /// <param name="baseLayer">The layer to adapt: a TorchSharp Linear (declared as Module for injection) or a FourBitLinear.</param>
    /// <param name="config">Settings of the first adapter.</param>
    /// <param name="name">Module path used in messages, e.g. <c>layers.0.self_attn.q_proj</c>.</param>
    /// <param name="adapterName">Name of the first adapter.</param>
    public LoraLinear(nn.Module<Tensor, Tensor> baseLayer, LoraConfig config, string name = "lora_linear", string adapterName = "default")
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        ArgumentNullException.ThrowIfNull(config);
        CheckAdapterName(adapterName);
        config.Validate($"LoraLinear '{name}'");
        _base = baseLayer switch
        {
            Linear linear => new DenseBase(linear),
            FourBitLinear fourBit => new FourBitBase(fourBit),
            _ => throw new ArgumentException(
                $"LoraLinear '{name}' can only wrap a Linear (or FourBitLinear) layer; got {baseLayer.GetType().Name} ('{baseLayer.GetName()}').", nameof(baseLayer)),
        };
        register_module("base_layer", _base.Module);
        register_module("lora_dropout", _dropouts);
        register_module("lora_A", _loraA);
        register_module("lora_B", _loraB);
        register_module("lora_magnitude_vector", _magnitudes);
        foreach (var parameter in _base.Module.parameters()) parameter.requires_grad = false;   // active bias modes turn the bias back on
        AddAdapter(adapterName, config);
        SetActiveAdapters(adapterName);
    }

    /// <summary>The frozen base: a <see cref="DenseBase"/> or, after <see cref="QuantizeBase"/>, a <see cref="FourBitBase"/>.</summary>
    public FrozenBase Base => _base;

    /// <summary>The dense base layer; see <see cref="QuantizedBase"/> once the base is in 4 bits.</summary>
    public Linear BaseLayer => (_base as DenseBase)?.Linear ?? throw new InvalidOperationException(Describe("has a 4-bit base; use QuantizedBase"));

    /// <summary>The 4-bit base layer (QLoRA), or null while the base is dense.</summary>
    public FourBitLinear? QuantizedBase => (_base as FourBitBase)?.Layer;

    public Parameter? BaseBias => _base.Bias;

    public long InFeatures => _base.InFeatures;

    public long OutFeatures => _base.OutFeatures;

    /// <summary>
    /// The rounding error the last merge into a 4-bit base introduced (it is dequantized, changed and quantized
    /// again; unmerging restores the original codes exactly); null for a dense base, where merging is exact up
    /// to float rounding.
    /// </summary>
    public QuantizationError? LastMergeError { get; private set; }

    public IReadOnlyCollection<string> AdapterNames => _registry.Names;

    public IReadOnlyList<string> ActiveAdapters => _registry.Active;

    public IReadOnlyList<string> MergedAdapters => _registry.Merged;

    public bool IsMerged => _registry.Merged.Count > 0;

    public bool AdaptersDisabled => _registry.Disabled;

    public LoraAdapter Adapter(string adapterName) =>
        _registry.TryGet(adapterName, out var adapter) ? adapter
            : throw new KeyNotFoundException(Describe($"has no adapter '{adapterName}' (adapters: {string.Join(", ", _registry.Names)})"));

    /// <summary>
    /// Adds an adapter initialised per <paramref name="config"/>, inactive (and so frozen) until chosen. Its
    /// dtype is fp32 on a 16-bit base (peft's autocast_adapter_dtype; <see cref="LoraConfig.AutocastAdapterDtype"/>
    /// false keeps the base dtype), the base's dtype otherwise, whether the base is dense or 4-bit.
    /// </summary>
    public LoraAdapter AddAdapter(string adapterName, LoraConfig config)
    {
        CheckAdapterName(adapterName);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate($"LoraLinear '{GetName()}'");
        if (_registry.Disabled) throw new InvalidOperationException(Describe("cannot add an adapter while adapters are disabled"));
        if (_registry.Contains(adapterName))
            throw new ArgumentException(Describe($"already has an adapter named '{adapterName}'"), nameof(adapterName));

        var adapter = AdapterFactory.Create(adapterName, config, _base);
        _loraA.Add(adapterName, adapter.A);
        _loraB.Add(adapterName, adapter.B);
        _dropouts.Add(adapterName, adapter.Dropout);
        if (adapter.Magnitude is { } magnitude) _magnitudes.Add(adapterName, magnitude);
        if (!training) adapter.Dropout.eval();
        adapter.SetTrainable(false);
        _registry.Add(adapter);
        return adapter;
    }

    /// <summary>
    /// Chooses the adapters whose contributions are summed in the forward pass. As peft's <c>set_adapter</c>, the
    /// chosen ones train and every other adapter is frozen; the base bias trains while an active adapter's bias
    /// mode says so.
    /// </summary>
    public void SetActiveAdapters(params string[] adapterNames)
    {
        foreach (var name in adapterNames) Adapter(name);
        _registry.Activate(adapterNames);
        UpdateBiasTraining();
    }

    /// <summary>Deletes an adapter and its parameters. Refused while it is merged.</summary>
    public void DeleteAdapter(string adapterName)
    {
        var adapter = Adapter(adapterName);
        if (_registry.IsMerged(adapterName))
            throw new InvalidOperationException(Describe($"cannot delete adapter '{adapterName}' while it is merged; unmerge first"));
        if (_registry.Disabled) throw new InvalidOperationException(Describe("cannot delete an adapter while adapters are disabled"));
        _loraA.Remove(adapterName);
        _loraB.Remove(adapterName);
        _dropouts.Remove(adapterName);
        if (adapter.Magnitude is not null) _magnitudes.Remove(adapterName);
        _registry.Remove(adapterName);
        UpdateBiasTraining();
    }

    /// <summary>
    /// Until disposed, the layer computes the base output alone. A 4-bit base computes with its pre-merge codes
    /// and gets its merged codes back afterwards, bit for bit; a dense base is unmerged for the duration and
    /// merged back afterwards (float rounding of the order of one ulp). Merging and unmerging are refused meanwhile.
    /// </summary>
    public IDisposable DisableAdapters()
    {
        if (_registry.Disabled) throw new InvalidOperationException(Describe("adapters are already disabled"));
        var wasMerged = _registry.Merged.ToArray();
        var suspended = wasMerged.Length > 0 ? _base.ShowPreMerge() : null;
        if (wasMerged.Length > 0 && suspended is null) Unmerge();
        _registry.Disabled = true;
        return new OnDispose(() =>
        {
            _registry.Disabled = false;
            if (suspended is not null) suspended.Dispose();
            else if (wasMerged.Length > 0) Merge(wasMerged);
        });
    }

    /// <summary>
    /// Adds the given adapters (default: the active ones) into the base weight: W += scaling·B·A, or for DoRA
    /// W = m / ‖W + ΔW‖ ⊙ (W + ΔW) per row. Computed in fp32 (fp64 for an fp64 base) and rounded once into a
    /// 16-bit base, or quantized again into a 4-bit one. With <paramref name="safe"/>, computes on a copy and
    /// refuses a non-finite result, leaving W as it was.
    /// </summary>
    public void Merge(IReadOnlyList<string>? adapterNames = null, bool safe = false)
    {
        var adapters = MergeCandidates(adapterNames);
        using var _ = no_grad();
        var merged = new List<LoraAdapter>();
        Tensor? changedInPlace = null;
        try
        {
            var error = _base.Rewrite(WorkingDtype(adapters), inPlace: !safe, weight =>
            {
                changedInPlace = !safe ? weight : null;
                foreach (var adapter in adapters)
                {
                    adapter.MergeInto(weight);
                    merged.Add(adapter);
                    if (safe) EnsureFinite(weight, adapter.Name);
                }
            });
            if (error is not null) LastMergeError = error;
        }
        catch
        {
            // A merge that failed midway in place (out of memory, say) takes back what it added; on a copy nothing changed.
            if (changedInPlace is not null && ReferenceEquals(changedInPlace, (_base as DenseBase)?.Linear.weight))
                foreach (var adapter in Enumerable.Reverse(merged)) adapter.UnmergeFrom(changedInPlace);
            foreach (var adapter in merged) adapter.ForgetMerge();
            throw;
        }
        foreach (var adapter in adapters) _registry.PushMerged(adapter.Name);
    }

    /// <summary>
    /// Throws exactly what <see cref="Merge"/> would throw for these arguments, and changes nothing: a model-level
    /// merge checks every layer with it before it changes any.
    /// </summary>
    public void CheckMerge(IReadOnlyList<string>? adapterNames = null, bool safe = false)
    {
        var adapters = MergeCandidates(adapterNames);
        if (!safe) return;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var dtype = WorkingDtype(adapters);
        var read = _base.DenseWeight(dtype);                                  // may share the parameter's storage
        var weight = _base is DenseBase && dtype == _base.DType ? read.clone() : read;   // (out, in), ours to merge into
        try
        {
            foreach (var adapter in adapters)
            {
                adapter.MergeInto(weight);
                EnsureFinite(weight, adapter.Name);
            }
        }
        finally
        {
            foreach (var adapter in adapters) adapter.ForgetMerge();
        }
    }

    /// <summary>
    /// Removes every merged adapter again. A 4-bit base gets its pre-merge codes back, bit for bit; a dense base
    /// subtracts the adapters newest first, the inverse of <see cref="Merge"/> up to float rounding.
    /// </summary>
    public void Unmerge()
    {
        if (!IsMerged) throw new InvalidOperationException(Describe("has no merged adapter to unmerge"));
        if (_registry.Disabled) throw new InvalidOperationException(Describe("cannot unmerge while adapters are disabled"));
        var merged = _registry.Merged.Select(name => Adapter(name)).Reverse().ToArray();
        using var _ = no_grad();
        if (!_base.TryRestorePreMerge())
            _base.Rewrite(WorkingDtype(merged), inPlace: true, weight =>
            {
                foreach (var adapter in merged) adapter.UnmergeFrom(weight);
            });
        foreach (var adapter in merged) adapter.ForgetMerge();
        _registry.ClearMerged();
    }

    /// <summary>Replaces an adapter's tensors (e.g. from a checkpoint), checking every shape first.</summary>
    /// <param name="adapterName">The adapter to fill.</param>
    /// <param name="a">(r, in)</param>
    /// <param name="b">(out, r)</param>
    /// <param name="magnitude">(out,), required exactly when the adapter uses DoRA.</param>
    public void SetAdapterWeights(string adapterName, Tensor a, Tensor b, Tensor? magnitude = null)
    {
        var adapter = Adapter(adapterName);
        if (_registry.IsMerged(adapterName))
            throw new InvalidOperationException(Describe($"cannot replace adapter '{adapterName}' while it is merged"));
        if (_registry.Disabled) throw new InvalidOperationException(Describe($"cannot replace adapter '{adapterName}' while adapters are disabled"));
        var r = adapter.Config.R;
        CheckShape(adapterName, "lora_A", a, [r, InFeatures], "r x in_features");
        CheckShape(adapterName, "lora_B", b, [OutFeatures, r], "out_features x r");
        if (adapter.Magnitude is null && magnitude is not null)
            throw new ArgumentException(Describe($"adapter '{adapterName}' is not a DoRA adapter, but a magnitude vector was given"), nameof(magnitude));
        if (adapter.Magnitude is { } m)
        {
            if (magnitude is null)
                throw new ArgumentException(Describe($"adapter '{adapterName}' uses DoRA and needs its lora_magnitude_vector"), nameof(magnitude));
            CheckShape(adapterName, "lora_magnitude_vector", magnitude, [OutFeatures], "out_features");
            using (no_grad()) m.weight.copy_(magnitude);
        }
        using var _ = no_grad();
        adapter.A.weight.copy_(a);
        adapter.B.weight.copy_(b);
    }

    /// <summary>Per-row adapters of the next forward passes (a mixed-adapter batch); set through ModelAdapters.UseRowAdapters.</summary>
    internal RowAdapters? Rows { get; set; }

    /// <param name="x">(..., in)</param>
    /// <returns>(..., out), in the base output's dtype.</returns>
    public override Tensor forward(Tensor x)
    {
        var result = _base.Module.forward(x);             // (..., out), a fresh tensor we may update in place
        if (_registry.Disabled) return result;
        if (Rows is { } rows) return MixedForward(x, result, rows);
        var pending = _registry.Pending.ToArray();
        if (pending.Length == 0) return result;
        return Accumulate(result, pending, accumulator =>
        {
            using var pass = new AdapterForward(x, accumulator, _base, training);
            if (pending.Any(adapter => adapter.Magnitude is not null)) pass.CaptureBaseOutput();
            foreach (var adapter in pending) adapter.AddTo(pass);
        });
    }

    /// <summary>
    /// Adds the adapters' terms to the base output in the widest of its and their dtypes, so that fp32 adapters on a
    /// 16-bit base add in fp32 and the sum is rounded once at the end, as peft does.
    /// </summary>
    private static Tensor Accumulate(Tensor result, IReadOnlyCollection<LoraAdapter> adapters, Action<Tensor> addTerms)
    {
        var outputDtype = result.dtype;
        var accumulatorDtype = adapters.Aggregate(outputDtype, (dtype, adapter) => AdapterDtypes.Wider(dtype, adapter.DType));
        var accumulator = result;
        if (accumulatorDtype != outputDtype)
        {
            accumulator = result.to(accumulatorDtype);
            result.Dispose();
        }
        addTerms(accumulator);
        if (accumulatorDtype == outputDtype) return accumulator;
        using (accumulator) return accumulator.to(outputDtype);
    }

    /// <summary>
    /// A mixed-adapter batch: row i (the first dimension of <paramref name="x"/>) gets the term of adapter
    /// <c>rows.Names[i]</c> only, or none, whatever the active set. Each row's output equals running it alone with
    /// its adapter.
    /// </summary>
    private Tensor MixedForward(Tensor x, Tensor result, RowAdapters rows)
    {
        if (x.dim() < 2 || x.shape[0] != rows.Names.Count)
            throw new ArgumentException(Describe($"was given {rows.Names.Count} row adapters for a batch of {(x.dim() < 2 ? 0 : x.shape[0])} rows"));
        // A row whose adapter does not target this layer gets the base alone here, as in peft.
        var groups = rows.Names.Select((name, row) => (name, row)).Where(r => r.name is not null && _registry.Contains(r.name))
            .GroupBy(r => r.name!, r => (long)r.row).ToDictionary(g => Adapter(g.Key), g => g.ToArray());
        if (groups.Count == 0) return result;
        return Accumulate(result, groups.Keys, accumulator =>
        {
            bool gather = rows.Strategy == MixedBatchStrategy.Gather && !training;
            var gathered = gather ? groups.Where(g => g.Key is PlainLoraAdapter && g.Key.DType == groups.Keys.First().DType).ToArray() : [];
            if (gathered.Length > 0)
            {
                if (!rows.Gathered.TryGetValue(this, out var stacked))
                    rows.Gathered[this] = stacked = MixedBatches.Gather(gathered, InFeatures, OutFeatures, x.device);
                MixedBatches.AddGathered(x, accumulator, stacked);
            }
            foreach (var (adapter, rowIndices) in groups.Except(gathered))
                MixedBatches.AddSegment(x, accumulator, adapter, rowIndices, _base, training);
        });
    }

    /// <summary>
    /// Replaces a dense base by its 4-bit quantization (QLoRA), keeping the adapters and their dtype. Refused while merged.
    /// </summary>
    public void QuantizeBase(QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true)
    {
        if (_base is not DenseBase dense) throw new InvalidOperationException(Describe("already has a 4-bit base"));
        if (IsMerged) throw new InvalidOperationException(Describe("cannot quantize its base while adapters are merged; unmerge first"));
        if (_registry.Disabled) throw new InvalidOperationException(Describe("cannot quantize its base while adapters are disabled"));
        var quantized = FourBitLinear.FromLinear(dense.Linear, type, blockSize, doubleQuantize, GetName());
        if (quantized.Bias is { } bias && dense.Linear.bias is { } denseBias) bias.requires_grad = denseBias.requires_grad;
        _internal_submodules["base_layer"] = quantized;
        _base = new FourBitBase(quantized);
        dense.Linear.Dispose();
    }

    /// <summary>
    /// Hands the base layer out of this wrapper (peft's <c>get_base_layer</c> on unload): merged adapters stay in
    /// its weight, kept pre-merge state is freed, and this layer is left without a base; dispose it next.
    /// </summary>
    internal nn.Module<Tensor, Tensor> ReleaseBase()
    {
        if (_registry.Disabled) throw new InvalidOperationException(Describe("cannot hand out its base while adapters are disabled"));
        var module = _base.Module;
        _base.ReleaseKeptState();
        foreach (var adapter in _registry.All) adapter.ForgetMerge();
        _registry.ClearMerged();
        _internal_submodules.Remove("base_layer");
        return module;
    }

    /// <summary>The adapters a merge of <paramref name="adapterNames"/> (default: the active ones) would add, after checking the layer's state.</summary>
    private LoraAdapter[] MergeCandidates(IReadOnlyList<string>? adapterNames)
    {
        var names = adapterNames ?? _registry.Active;
        if (names.Count == 0) throw new InvalidOperationException(Describe("has no adapter to merge"));
        var adapters = names.Select(Adapter).ToArray();
        foreach (var name in names)
            if (_registry.IsMerged(name))
                throw new InvalidOperationException(Describe($"adapter '{name}' is already merged"));
        if (_registry.Disabled) throw new InvalidOperationException(Describe("cannot merge while adapters are disabled"));
        return adapters;
    }

    private ScalarType WorkingDtype(IEnumerable<LoraAdapter> adapters) => AdapterDtypes.Working(_base.DType, adapters);

    /// <summary>Refuses a merged weight that is not finite, as it will be stored: a 16-bit base overflows past its range (65,504 in fp16).</summary>
    private void EnsureFinite(Tensor weight, string adapterName)
    {
        using var stored = AdapterDtypes.IsSixteenBit(_base.DType) ? weight.to(_base.DType) : weight.alias();
        using var finite = stored.isfinite().all();
        if (!finite.item<bool>())
            throw new InvalidOperationException(Describe($"merging adapter '{adapterName}' gives non-finite weights (NaN or Inf); the base weight is left unchanged"));
    }

    private void UpdateBiasTraining()
    {
        if (_base.Bias is { } bias)
            bias.requires_grad = _registry.Active.Any(name => Adapter(name).Config.Bias != LoraBias.None);
    }

    private void CheckShape(string adapterName, string tensorName, Tensor tensor, long[] expected, string meaning)
    {
        if (!tensor.shape.SequenceEqual(expected))
            throw new ArgumentException(Describe(
                $"adapter '{adapterName}': {tensorName} must have shape [{string.Join(", ", expected)}] ({meaning}); got [{string.Join(", ", tensor.shape)}]"));
    }

    private string Describe(string problem) => $"LoraLinear '{GetName()}' {problem}.";

    /// <summary>Adapter names become module names (<c>lora_A.{name}</c>): TorchSharp refuses dots, so they are refused here, first.</summary>
    internal static void CheckAdapterName(string adapterName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adapterName);
        if (adapterName.Contains('.'))
            throw new ArgumentException($"Adapter name '{adapterName}' must not contain '.' (it becomes part of parameter names such as lora_A.{{name}}.weight).", nameof(adapterName));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var adapter in _registry.All) adapter.ForgetMerge();
            _base.ReleaseKeptState();
        }
        base.Dispose(disposing);
    }
}
