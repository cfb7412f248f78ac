using LoraGen.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// A frozen Linear (dense, or 4-bit <see cref="Nf4Linear"/> for QLoRA) plus named low-rank adapters:
/// y = W·x + b + Σ scaling·B·A·dropout(x) over the active adapters. Drop-in for the wrapped layer;
/// parameter names follow peft
/// (<c>base_layer.weight</c>, <c>lora_A.default.weight</c>, <c>lora_B.default.weight</c>,
/// <c>lora_magnitude_vector.default.weight</c>).
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> _base;               // exactly one of the two below
    private Linear? _linear;
    private Nf4Linear? _quantized;
    private readonly ModuleSlots<Linear> _loraA = new("lora_A");
    private readonly ModuleSlots<Linear> _loraB = new("lora_B");
    private readonly ModuleSlots<nn.Module<Tensor, Tensor>> _dropouts = new("lora_dropout");
    private readonly ModuleSlots<DoraMagnitude> _magnitudes = new("lora_magnitude_vector");
    private readonly Dictionary<string, LoraAdapter> _adapters = new();
    private readonly List<string> _active = new();
    private readonly List<string> _merged = new();          // in merge order; unmerge pops from the end
    private readonly Dictionary<string, Tensor> _doraMergeFactors = new();
    private bool _disabled;

    /// <param name="baseLayer">The layer to adapt: a TorchSharp Linear (declared as Module for injection) or an Nf4Linear.</param>
    /// <param name="config">Settings of the first adapter.</param>
    /// <param name="name">Module path used in messages, e.g. <c>layers.0.self_attn.q_proj</c>.</param>
    /// <param name="adapterName">Name of the first adapter.</param>
    public LoraLinear(nn.Module<Tensor, Tensor> baseLayer, LoraConfig config, string name = "lora_linear", string adapterName = "default")
        : base(name)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        _base = baseLayer is Linear or Nf4Linear ? baseLayer : throw new ArgumentException(
            $"LoraLinear '{name}' can only wrap a Linear (or Nf4Linear) layer; got {baseLayer.GetType().Name} ('{baseLayer.GetName()}').", nameof(baseLayer));
        _linear = baseLayer as Linear;
        _quantized = baseLayer as Nf4Linear;
        register_module("base_layer", _base);
        register_module("lora_dropout", _dropouts);
        register_module("lora_A", _loraA);
        register_module("lora_B", _loraB);
        register_module("lora_magnitude_vector", _magnitudes);
        if (_linear is not null) _linear.weight.requires_grad = false;
        if (BaseBias is not null) BaseBias.requires_grad = false;       // bias modes turn it back on
        AddAdapter(adapterName, config);
        SetActiveAdapters(adapterName);
    }

    /// <summary>The dense base layer; see <see cref="QuantizedBase"/> once the base is in 4 bits.</summary>
    public Linear BaseLayer => _linear ?? throw new InvalidOperationException(Describe("has a 4-bit base; use QuantizedBase"));

    /// <summary>The 4-bit base layer (QLoRA), or null while the base is dense.</summary>
    public Nf4Linear? QuantizedBase => _quantized;

    public Parameter? BaseBias => _linear is not null ? _linear.bias : _quantized!.Bias;

    public long InFeatures => _linear?.in_features ?? _quantized!.InFeatures;

    public long OutFeatures => _linear?.out_features ?? _quantized!.OutFeatures;

    /// <summary>
    /// The rounding error the last merge or unmerge into a 4-bit base introduced (it is dequantized, changed
    /// and quantized again); null for a dense base, where merging is exact up to float rounding.
    /// </summary>
    public QuantizationError? LastMergeError { get; private set; }

    public IReadOnlyCollection<string> AdapterNames => _adapters.Keys;

    public IReadOnlyList<string> ActiveAdapters => _active;

    public IReadOnlyList<string> MergedAdapters => _merged;

    public bool IsMerged => _merged.Count > 0;

    public bool AdaptersDisabled => _disabled;

    public LoraAdapter Adapter(string adapterName) =>
        _adapters.TryGetValue(adapterName, out var adapter) ? adapter
            : throw new KeyNotFoundException(Describe($"has no adapter '{adapterName}' (adapters: {string.Join(", ", _adapters.Keys)})"));

    /// <summary>Adds an adapter initialised per <paramref name="config"/> (inactive until chosen).</summary>
    public LoraAdapter AddAdapter(string adapterName, LoraConfig config)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(adapterName);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate($"LoraLinear '{GetName()}'");
        if (_adapters.ContainsKey(adapterName))
            throw new ArgumentException(Describe($"already has an adapter named '{adapterName}'"), nameof(adapterName));

        var (device, dtype) = _linear is not null ? (_linear.weight.device, _linear.weight.dtype) : (_quantized!.Weight.Packed.device, ScalarType.Float32);
        var a = nn.Linear(InFeatures, config.R, hasBias: false, device: device, dtype: dtype);
        var b = nn.Linear(config.R, OutFeatures, hasBias: false, device: device, dtype: dtype);
        using (no_grad())
        {
            if (config.Init == LoraInit.Gaussian)
                nn.init.normal_(a.weight, 0, 1.0 / config.R);
            else
                nn.init.kaiming_uniform_(a.weight, Math.Sqrt(5));
            nn.init.zeros_(b.weight);
        }
        nn.Module<Tensor, Tensor> dropout = config.Dropout > 0 ? nn.Dropout(config.Dropout) : nn.Identity();

        DoraMagnitude? magnitude = null;
        if (config.UseDora)
        {
            Tensor norms;
            using (var scope = NewDisposeScope())
            using (no_grad())
                norms = RowNorms(DenseWeight()).MoveToOuterDisposeScope();   // B = 0, so ‖W + ΔW‖ = ‖W‖
            using (norms) magnitude = new DoraMagnitude(norms);
        }

        _loraA.Add(adapterName, a);
        _loraB.Add(adapterName, b);
        _dropouts.Add(adapterName, dropout);
        if (magnitude is not null) _magnitudes.Add(adapterName, magnitude);
        if (!training) { dropout.eval(); }

        if (BaseBias is not null && config.Bias != LoraBias.None)
            BaseBias.requires_grad = true;

        var adapter = new LoraAdapter(adapterName, config, a, b, dropout, magnitude);
        _adapters.Add(adapterName, adapter);
        return adapter;
    }

    /// <summary>Chooses the adapters whose contributions are summed in the forward pass.</summary>
    public void SetActiveAdapters(params string[] adapterNames)
    {
        foreach (var name in adapterNames) Adapter(name);
        _active.Clear();
        _active.AddRange(adapterNames.Distinct());
    }

    /// <summary>Deletes an adapter and its parameters. Refused while it is merged.</summary>
    public void DeleteAdapter(string adapterName)
    {
        var adapter = Adapter(adapterName);
        if (_merged.Contains(adapterName))
            throw new InvalidOperationException(Describe($"cannot delete adapter '{adapterName}' while it is merged; unmerge first"));
        _loraA.Remove(adapterName);
        _loraB.Remove(adapterName);
        _dropouts.Remove(adapterName);
        if (adapter.Magnitude is not null) _magnitudes.Remove(adapterName);
        _adapters.Remove(adapterName);
        _active.Remove(adapterName);
    }

    /// <summary>
    /// Until disposed, the layer computes the base output alone. Merged adapters are unmerged for the
    /// duration and merged back afterwards.
    /// </summary>
    public IDisposable DisableAdapters()
    {
        if (_disabled) throw new InvalidOperationException(Describe("adapters are already disabled"));
        var wasMerged = _merged.ToArray();
        if (wasMerged.Length > 0) Unmerge();
        _disabled = true;
        return new Restore(() =>
        {
            _disabled = false;
            if (wasMerged.Length > 0) Merge(wasMerged);
        });
    }

    /// <summary>
    /// Adds the given adapters (default: the active ones) into the base weight:
    /// W += scaling·B·A, or for DoRA W = m / ‖W + ΔW‖ ⊙ (W + ΔW) per row.
    /// With <paramref name="safe"/>, computes on a copy and refuses a non-finite result, leaving W as it was.
    /// </summary>
    public void Merge(IReadOnlyList<string>? adapterNames = null, bool safe = false)
    {
        var names = adapterNames ?? _active;
        if (names.Count == 0) throw new InvalidOperationException(Describe("has no adapter to merge"));
        foreach (var name in names)
        {
            Adapter(name);
            if (_merged.Contains(name))
                throw new InvalidOperationException(Describe($"adapter '{name}' is already merged"));
        }
        if (_disabled) throw new InvalidOperationException(Describe("cannot merge while adapters are disabled"));

        using var _ = no_grad();
        foreach (var name in names)
        {
            using var scope = NewDisposeScope();
            var adapter = _adapters[name];
            if (_quantized is null && adapter.Magnitude is null && !safe)
                _linear!.weight.add_(adapter.DeltaWeight());                 // in place: no second copy of W
            else if (_quantized is null)
                _linear!.weight.copy_(MergedWeight(name, adapter, _linear.weight.add(adapter.DeltaWeight()), safe));
            else
                // Dequantize, merge, quantize again; the rounding that adds goes to LastMergeError.
                LastMergeError = _quantized.Requantize(MergedWeight(name, adapter, _quantized.DequantizedWeight().add_(adapter.DeltaWeight()), safe));
            _merged.Add(name);
        }
    }

    /// <summary>
    /// (out, in) the merged weight from <paramref name="combined"/> = W + ΔW: rescaled per row for DoRA
    /// (m / ‖W + ΔW‖, kept for unmerge), and checked for NaN/Inf when <paramref name="safe"/>.
    /// </summary>
    private Tensor MergedWeight(string name, LoraAdapter adapter, Tensor combined, bool safe)
    {
        if (adapter.Magnitude is { } magnitude)
        {
            var factor = magnitude.weight.div(RowNorms(combined));           // (out,) m / ‖W + ΔW‖
            combined.mul_(factor.unsqueeze(1));
            _doraMergeFactors[name] = factor.MoveToOuterDisposeScope();
        }
        if (safe && !combined.isfinite().all().item<bool>())
        {
            if (_doraMergeFactors.Remove(name, out var unused)) unused.Dispose();
            throw new InvalidOperationException(Describe($"merging adapter '{name}' gives non-finite weights (NaN or Inf); the base weight is left unchanged"));
        }
        return combined;
    }

    /// <summary>Subtracts every merged adapter again, newest first: the exact inverse of <see cref="Merge"/> (up to 4-bit rounding for a quantized base).</summary>
    public void Unmerge()
    {
        if (_merged.Count == 0) throw new InvalidOperationException(Describe("has no merged adapter to unmerge"));
        using var _ = no_grad();
        while (_merged.Count > 0)
        {
            using var scope = NewDisposeScope();
            var name = _merged[^1];
            var adapter = _adapters[name];
            var delta = adapter.DeltaWeight();
            var weight = DenseWeight();
            if (adapter.Magnitude is not null)
            {
                using var factor = _doraMergeFactors[name];
                _doraMergeFactors.Remove(name);
                weight = weight.div(factor.unsqueeze(1)).sub_(delta);               // W = W'/factor − ΔW
            }
            else
            {
                weight = _quantized is null ? weight.sub_(delta) : weight.sub(delta);
            }
            if (_quantized is not null) LastMergeError = _quantized.Requantize(weight);
            else if (adapter.Magnitude is not null) _linear!.weight.copy_(weight);
            _merged.RemoveAt(_merged.Count - 1);
        }
    }

    /// <summary>Replaces an adapter's tensors (e.g. from a checkpoint), checking every shape first.</summary>
    /// <param name="adapterName">The adapter to fill.</param>
    /// <param name="a">(r, in)</param>
    /// <param name="b">(out, r)</param>
    /// <param name="magnitude">(out,), required exactly when the adapter uses DoRA.</param>
    public void SetAdapterWeights(string adapterName, Tensor a, Tensor b, Tensor? magnitude = null)
    {
        var adapter = Adapter(adapterName);
        if (_merged.Contains(adapterName))
            throw new InvalidOperationException(Describe($"cannot replace adapter '{adapterName}' while it is merged"));
        var r = adapter.Config.R;
        CheckShape(adapterName, "lora_A", a, [r, InFeatures], "r x in_features");
        CheckShape(adapterName, "lora_B", b, [OutFeatures, r], "out_features x r");
        if (adapter.Magnitude is null && magnitude is not null)
            throw new ArgumentException(Describe($"adapter '{adapterName}' is not a DoRA adapter, but a magnitude vector was given"), nameof(magnitude));
        if (adapter.Magnitude is not null)
        {
            if (magnitude is null)
                throw new ArgumentException(Describe($"adapter '{adapterName}' uses DoRA and needs its lora_magnitude_vector"), nameof(magnitude));
            CheckShape(adapterName, "lora_magnitude_vector", magnitude, [OutFeatures], "out_features");
        }
        using var _ = no_grad();
        adapter.A.weight.copy_(a);
        adapter.B.weight.copy_(b);
        adapter.Magnitude?.weight.copy_(magnitude!);
    }

    /// <param name="x">(..., in)</param>
    /// <returns>(..., out)</returns>
    public override Tensor forward(Tensor x)
    {
        var result = _base.forward(x);                   // (..., out), a fresh tensor we may update in place
        if (_disabled) return result;

        var pending = _active.Where(name => !_merged.Contains(name)).Select(name => _adapters[name]).ToArray();
        if (pending.Length == 0) return result;

        // DoRA rescales W·x, so keep it before the in-place updates below change result.
        using var baseWithoutBias = !pending.Any(a => a.Magnitude is not null) ? null
            : BaseBias is null ? result.clone() : result.sub(BaseBias);
        using var result2d = result.view(-1, OutFeatures);   // (tokens, out), shares result's storage
        foreach (var adapter in pending)
        {
            var dropped = adapter.Dropout.forward(x);
            try
            {
                using var down = adapter.A.forward(dropped);    // (..., r)
                if (adapter.Magnitude is null)
                {
                    // result += (scaling·down)·Bᵀ in one fused GEMM with no (tokens, out) temporary. In
                    // place is safe for autograd: Linear saves its input, never its output. Scaling the
                    // (tokens, r) side is cheap and keeps the factor in the tensor's own precision.
                    using var down2d = down.view(-1, adapter.Config.R).mul_(adapter.Scaling);
                    using var bT = adapter.B.weight.t();
                    result2d.addmm_(down2d, bT);
                }
                else
                {
                    using var contribution = DoraOutput(adapter, dropped, down, baseWithoutBias!);
                    result.add_(contribution);
                }
            }
            finally
            {
                if (!ReferenceEquals(dropped, x)) dropped.Dispose();
            }
        }
        return result;
    }

    /// <summary>
    /// What a DoRA adapter adds to the base output, (..., out): with c = m / ‖W + ΔW‖ per row,
    /// (c − 1)·W·x + c·scaling·B·A·x, so that the sum is c ⊙ (W + ΔW)·x + b. The norm is a constant for
    /// autograd (DoRA §4.3), so it costs no backward memory. With dropout active in training the base
    /// term uses the dropped input, as peft does.
    /// </summary>
    private Tensor DoraOutput(LoraAdapter adapter, Tensor dropped, Tensor down, Tensor baseWithoutBias)
    {
        using var up = adapter.B.forward(down);           // (..., out)
        using var normScale = DoraNormScale(adapter);     // (out,) c
        using var baseFactor = normScale.sub(1);
        using var lora = up.mul(normScale).mul_(adapter.Scaling);
        if (training && adapter.Config.Dropout > 0)
        {
            using var droppedBase = _linear is not null ? nn.functional.linear(dropped, _linear.weight) : FourBitMatMul.apply(dropped, _quantized!.Weight);
            return droppedBase.mul(baseFactor).add_(lora);
        }
        return baseWithoutBias.mul(baseFactor).add_(lora);
    }

    /// <summary>(out,) m / ‖W + scaling·B·A‖ per row, the norm detached.</summary>
    private Tensor DoraNormScale(LoraAdapter adapter)
    {
        using var scope = NewDisposeScope();
        Tensor norm;
        using (no_grad())
        {
            var delta = adapter.DeltaWeight();
            norm = RowNorms(DenseWeight().add(delta));
        }
        return adapter.Magnitude!.weight.div(norm).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Replaces a dense base by its 4-bit quantization (QLoRA), keeping the adapters. Refused while merged.
    /// </summary>
    public void QuantizeBase(QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true)
    {
        if (_quantized is not null) throw new InvalidOperationException(Describe("already has a 4-bit base"));
        if (IsMerged) throw new InvalidOperationException(Describe("cannot quantize its base while adapters are merged; unmerge first"));
        var dense = _linear!;
        var quantized = Nf4Linear.FromLinear(dense, type, blockSize, doubleQuantize, GetName());
        if (quantized.Bias is not null) quantized.Bias.requires_grad = dense.bias!.requires_grad;
        _internal_submodules["base_layer"] = quantized;
        _base = quantized;
        _quantized = quantized;
        _linear = null;
        dense.Dispose();
    }

    /// <summary>
    /// (out, in) the base weight as dense values: the parameter itself for a dense base, a new dequantized
    /// tensor for a 4-bit one. Call inside a dispose scope and do not dispose it directly.
    /// </summary>
    private Tensor DenseWeight() => _linear is not null ? _linear.weight : _quantized!.DequantizedWeight();

    /// <summary>(out,) L2 norm of each row of an (out, in) matrix.</summary>
    private static Tensor RowNorms(Tensor weight) => linalg.vector_norm(weight, ord: 2, dims: [1]);

    private void CheckShape(string adapterName, string tensorName, Tensor tensor, long[] expected, string meaning)
    {
        if (!tensor.shape.SequenceEqual(expected))
            throw new ArgumentException(Describe(
                $"adapter '{adapterName}': {tensorName} must have shape [{string.Join(", ", expected)}] ({meaning}); got [{string.Join(", ", tensor.shape)}]"));
    }

    private string Describe(string problem) => $"LoraLinear '{GetName()}' {problem}.";

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var factor in _doraMergeFactors.Values) factor.Dispose();
        base.Dispose(disposing);
    }

    private sealed class Restore(Action action) : IDisposable
    {
        private Action? _action = action;

        public void Dispose()
        {
            _action?.Invoke();
            _action = null;
        }
    }
}
