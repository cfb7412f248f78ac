using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// One forward pass through the adapters of a <see cref="LoraLinear"/>: the input, the accumulator every
/// adapter adds its term to (the base output, in the widest of the base's and the adapters' dtypes, so that
/// fp32 adapters on a 16-bit base add in fp32 and the sum is rounded once), and what DoRA reads of the base.
/// </summary>
internal sealed class AdapterForward : IDisposable
{
    private readonly Tensor _input;
    private readonly Dictionary<ScalarType, Tensor> _casts = new();
    private Tensor? _baseWithoutBias;

    /// <param name="input">(..., in) the layer's input.</param>
    /// <param name="accumulator">(..., out) the base output, contiguous, owned by the caller.</param>
    public AdapterForward(Tensor input, Tensor accumulator, FrozenBase frozenBase, bool training)
    {
        _input = input;
        Accumulator = accumulator;
        Accumulator2d = accumulator.view(-1, accumulator.shape[^1]);
        Base = frozenBase;
        Training = training;
    }

    /// <summary>(..., out)</summary>
    public Tensor Accumulator { get; }

    /// <summary>(tokens, out), the same storage as <see cref="Accumulator"/>.</summary>
    public Tensor Accumulator2d { get; }

    public FrozenBase Base { get; }

    public bool Training { get; }

    /// <summary>(..., out) W·x without bias, in the accumulator's dtype: fixed by <see cref="CaptureBaseOutput"/> before any adapter adds to it.</summary>
    public Tensor BaseOutputWithoutBias => _baseWithoutBias ?? throw new InvalidOperationException("the base output was not captured before the adapters ran");

    /// <summary>Keeps W·x for DoRA before the in-place updates change the accumulator.</summary>
    public void CaptureBaseOutput()
    {
        if (Base.Bias is null) { _baseWithoutBias = Accumulator.clone(); return; }
        using var bias = AdapterDtypes.Cast(Base.Bias, Accumulator.dtype);
        _baseWithoutBias = Accumulator.sub(bias);
    }

    /// <summary>The input in <paramref name="dtype"/>: the input itself, or one cast per dtype shared by the adapters.</summary>
    public Tensor Input(ScalarType dtype)
    {
        if (dtype == _input.dtype) return _input;
        if (!_casts.TryGetValue(dtype, out var cast)) _casts[dtype] = cast = _input.to(dtype);
        return cast;
    }

    /// <summary>True for a tensor this pass owns or was given (an adapter must not dispose it).</summary>
    public bool IsSharedInput(Tensor tensor) => ReferenceEquals(tensor, _input) || _casts.ContainsValue(tensor);

    public void Dispose()
    {
        Accumulator2d.Dispose();
        _baseWithoutBias?.Dispose();
        foreach (var cast in _casts.Values) cast.Dispose();
    }
}
