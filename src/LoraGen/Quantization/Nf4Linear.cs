using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Quantization;

/// <summary>
/// A frozen Linear whose weight is stored in 4 bits (NF4 by default, or FP4) and dequantized on the fly to
/// the input's dtype. The packed codes are registered as the frozen parameter <c>weight</c> (uint8, two codes
/// per byte; <see cref="Planning.ParameterSummary"/> counts it as two parameters per byte, as peft does for
/// bitsandbytes' Params4bit); the absmax state is registered as buffers.
/// </summary>
public sealed class Nf4Linear : nn.Module<Tensor, Tensor>
{
    private QuantizedWeight _weight;
    private readonly Parameter? _bias;

    private Nf4Linear(QuantizedWeight weight, Parameter? bias, string name) : base(name)
    {
        Devices.HostMemory.ReturnLayerBuffersToOs();
        _weight = weight;
        _bias = bias;
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
    public static Nf4Linear FromLinear(Linear linear, QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true, string name = "linear")
    {
        ArgumentNullException.ThrowIfNull(linear);
        var weight = QuantizedWeight.Quantize(linear.weight, type, blockSize, doubleQuantize, name);
        var bias = linear.bias is null ? null : new Parameter(linear.bias.detach().clone(), requires_grad: false);
        return new Nf4Linear(weight, bias, name);
    }

    public long InFeatures { get; }

    public long OutFeatures { get; }

    public QuantizedWeight Weight => _weight;

    public Parameter? Bias => _bias;

    /// <summary>The dense weight (out, in), a new tensor.</summary>
    public Tensor DequantizedWeight(ScalarType dtype = ScalarType.Float32) => _weight.Dequantize(dtype);

    /// <summary>
    /// Replaces the stored weight by <paramref name="dense"/> quantized again (how a merge lands in a 4-bit
    /// base), and returns the rounding error that introduced: peft only warns about it.
    /// </summary>
    public QuantizationError Requantize(Tensor dense)
    {
        if (!dense.shape.SequenceEqual(_weight.Shape))
            throw new ArgumentException($"Nf4Linear '{GetName()}': the new weight must have shape [{string.Join(", ", _weight.Shape)}]; got [{string.Join(", ", dense.shape)}].");
        var next = QuantizedWeight.Quantize(dense, _weight.Type, _weight.BlockSize, _weight.DoubleQuantized, GetName());   // on dense's device
        var error = next.ErrorAgainst(dense);
        _weight.Dispose();
        _weight = next;
        RegisterState();
        return error;
    }

    /// <param name="x">(..., in)</param>
    /// <returns>(..., out)</returns>
    public override Tensor forward(Tensor x)
    {
        if (x.shape[^1] != InFeatures)
            throw new ArgumentException($"Nf4Linear '{GetName()}' expects inputs of size {InFeatures} in the last dimension; got [{string.Join(", ", x.shape)}].");
        var y = FourBitMatMul.apply(x, _weight);
        if (_bias is null) return y;
        using (y) return y.add(_bias.to(y.dtype));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _weight.Dispose();
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
