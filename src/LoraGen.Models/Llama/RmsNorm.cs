using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>
/// x / √(mean(x²) + ε) · weight, over the last dimension (Llama's normalisation, no bias, no centring). As in
/// transformers, a 16-bit input is normalised in fp32 and rounded back before the weight multiplies it.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private Parameter _weight;
    private readonly double _eps;

    public RmsNorm(long size, double eps = 1e-5, Device? device = null) : base(nameof(RmsNorm))
    {
        _weight = new Parameter(ones(size, device: device));
        _eps = eps;
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

    /// <param name="x">(..., size)</param>
    public override Tensor forward(Tensor x)
    {
        using var wide = x.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? x.to(ScalarType.Float32) : x.alias();
        using var meanSquare = wide.pow(2).mean([-1], keepdim: true);  // (..., 1)
        using var inverse = (meanSquare + _eps).rsqrt();
        using var normalized = wide * inverse;
        using var rounded = normalized.to(x.dtype);
        return weight * rounded;
    }
}
