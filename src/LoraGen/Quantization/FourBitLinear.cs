using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Quantization;

/// <summary>
/// A frozen Linear whose weight is stored in 4 bits (NF4 by default, or FP4) and dequantized on the fly to
/// the input's dtype: bitsandbytes' <c>Linear4bit</c>. The packed codes are registered as the frozen parameter
/// <c>weight</c> (uint8, two codes per byte; <see cref="Planning.ParameterSummary"/> counts it as two
/// parameters per byte, as peft does for bitsandbytes' Params4bit); the absmax state is registered as buffers.
/// </summary>
public sealed class FourBitLinear : nn.Module<Tensor, Tensor>
{
    private QuantizedWeight _weight;
    private Parameter? _bias;

    private FourBitLinear(QuantizedWeight weight, Parameter? bias, ScalarType dtype, string name) : base(name)
    {
        _weight = weight;
        _bias = bias;
        DType = dtype;
        InFeatures = weight.Shape[1];
        OutFeatures = weight.Shape[0];
        RegisterState();
        if (_bias is not null)
        {
            _bias.requires_grad = false;
            register_parameter("bias", _bias);
        }
    }

    /// <summary>Quantizes a Linear's weight; the bias is kept as it is (frozen). The Linear itself is left untouched.</summary>
    public static FourBitLinear FromLinear(Linear linear, QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(linear);
        var weight = QuantizedWeight.Quantize(linear.weight, type, blockSize, doubleQuantize, name);
        var bias = linear.bias is null ? null : new Parameter(linear.bias.detach().clone(), requires_grad: false);
        bias?.DetachFromDisposeScope();                          // owned by the layer, whatever scope the caller is in
        return new FourBitLinear(weight, bias, linear.weight.dtype, name);
    }

    public long InFeatures { get; }

    public long OutFeatures { get; }

    /// <summary>
    /// The dtype of the weight this layer was quantized from (bitsandbytes' compute dtype): adapters on it get
    /// the dtype they would get on that dense weight, so quantizing before or after injection is the same.
    /// </summary>
    public ScalarType DType { get; private set; }

    public QuantizedWeight Weight => _weight;

    /// <summary>
    /// A weight kept beside the stored one (a merged layer keeps its pre-merge codes, 4 bits a weight, to restore them
    /// on unmerge); owned by this layer, moved with it by Module.to() and disposed with it.
    /// </summary>
    internal QuantizedWeight? KeptWeight { get; set; }

    public Parameter? Bias => _bias;

    /// <summary>The dense weight (out, in), a new tensor.</summary>
    public Tensor DequantizedWeight(ScalarType dtype = ScalarType.Float32) => _weight.Dequantize(dtype);

    /// <summary>
    /// Puts <paramref name="next"/> in place of the stored weight and hands the previous one back undisposed
    /// (a merge keeps it to restore on unmerge). An autograd graph built before still reads the state it saved.
    /// </summary>
    internal QuantizedWeight Swap(QuantizedWeight next)
    {
        if (!next.Shape.SequenceEqual(_weight.Shape))
            throw new ArgumentException($"FourBitLinear '{GetName()}': the new weight must have shape [{string.Join(", ", _weight.Shape)}]; got [{string.Join(", ", next.Shape)}].");
        var previous = _weight;
        _weight = next;
        RegisterState();
        return previous;
    }

    /// <param name="x">(..., in)</param>
    /// <returns>(..., out)</returns>
    public override Tensor forward(Tensor x)
    {
        var y = ForwardWithoutBias(x);
        if (_bias is null) return y;
        using (y)
        using (var bias = Layers.AdapterDtypes.Cast(_bias, y.dtype))
            return y.add(bias);
    }

    /// <param name="x">(..., in)</param>
    /// <returns>(..., out) x·Wᵀ in x's dtype.</returns>
    internal Tensor ForwardWithoutBias(Tensor x)
    {
        if (x.shape[^1] != InFeatures)
            throw new ArgumentException($"FourBitLinear '{GetName()}' expects inputs of size {InFeatures} in the last dimension; got [{string.Join(", ", x.shape)}].");
        return FourBitMatMul.apply(x, _weight);
    }

    /// <summary>
    /// Module.to(device, dtype): the 4-bit state moves to the device as it is (codes and absmax keep their dtypes);
    /// a floating dtype becomes the layer's compute dtype and the bias's dtype. TorchSharp's default would convert
    /// the registered tensors behind the <see cref="QuantizedWeight"/>'s back.
    /// </summary>
    protected override void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
    {
        if (device is not null && (device.type != _weight.Packed.device.type || device.index != _weight.Packed.device.index))
        {
            Swap(_weight.To(device)).Dispose();
            if (KeptWeight is { } kept)
            {
                KeptWeight = kept.To(device);
                kept.Dispose();
            }
        }
        if (dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64) DType = dtype.Value;
        if (_bias is null) return;
        using (no_grad())
        {
            var moved = new Parameter(_bias.to(dtype ?? _bias.dtype, device ?? _bias.device).detach().clone(), requires_grad: _bias.requires_grad);
            moved.DetachFromDisposeScope();
            _internal_params.Remove("bias");
            _bias.Dispose();
            _bias = moved;
            register_parameter("bias", _bias);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _weight.Dispose();
            KeptWeight?.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>(Re-)registers the quantized tensors so that they move with the module and show in its state.</summary>
    private void RegisterState()
    {
        _weight.DetachFromDisposeScope();
        if (_internal_params.ContainsKey("weight")) _internal_params.Remove("weight");
        foreach (var name in new[] { "absmax", "absmax_codes", "absmax_scales", "absmax_offset" })
            if (_internal_buffers.ContainsKey(name)) _internal_buffers.Remove(name);
        register_parameter("weight", _weight.Packed);
        if (_weight.Absmax is { } absmax) register_buffer("absmax", absmax);
        if (_weight.AbsmaxCodes is { } codes) register_buffer("absmax_codes", codes);
        if (_weight.AbsmaxScales is { } scales) register_buffer("absmax_scales", scales);
        if (_weight.AbsmaxOffset is { } offset) register_buffer("absmax_offset", offset);
    }
}
