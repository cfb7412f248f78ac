using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>
/// x / √(mean(x²) + ε) · weight over the last dimension (no bias, no centring), in the two roundings transformers
/// publishes. Llama's: a 16-bit input is normalised in fp32 and rounded back before the weight multiplies it.
/// Gemma's (<see cref="Gemma"/>): the weight is stored as an offset from 1 (zeros at init), x·(1 + weight) is
/// computed wholly in fp32 and rounded once at the end.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private Parameter _weight;
    private readonly double _eps;
    private readonly bool _unitOffset;

    public RmsNorm(long size, double eps = 1e-5, Device? device = null) : this(size, eps, device, unitOffset: false)
    {
    }

    private RmsNorm(long size, double eps, Device? device, bool unitOffset) : base(nameof(RmsNorm))
    {
        _weight = new Parameter(unitOffset ? zeros(size, device: device) : ones(size, device: device));
        _eps = eps;
        _unitOffset = unitOffset;
        register_parameter(nameof(weight), _weight);
    }

    /// <summary>(size); settable as TorchSharp's layers' weights are, so a model built on meta can be given its weights.</summary>
    public Parameter weight
    {
        get => _weight;
        set
        {
            if (ReferenceEquals(value, _weight)) return;
            _weight.Dispose();
            _weight = (Parameter)value.DetachFromDisposeScope();             // owned by the module, as TorchSharp's setters do
            ConditionallyRegisterParameter(nameof(weight), _weight);
        }
    }

    /// <summary>Gemma's RMSNorm: x·(1 + weight), all in fp32 for 16-bit inputs, rounded once.</summary>
    public static RmsNorm Gemma(long size, double eps, Device? device = null) => new(size, eps, device, unitOffset: true);

    /// <param name="x">(..., size)</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var wide = x.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? x.to(ScalarType.Float32) : x.alias();
        var meanSquare = wide.pow(2).mean([-1], keepdim: true);          // (..., 1)
        var normalized = wide * (meanSquare + _eps).rsqrt();
        var result = _unitOffset
            ? (normalized * (weight.to(normalized.dtype) + 1)).to(x.dtype)  // (x·(1 + w)) rounded once
            : weight * normalized.to(x.dtype);                              // rounded, then weighted
        return result.MoveToOuterDisposeScope();
    }
}
