using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>
/// x / √(mean(x²) + ε) · weight, over the last dimension (Llama's normalisation, no bias, no centring). As in
/// transformers, a 16-bit input is normalised in fp32 and rounded back before the weight multiplies it.
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    public RmsNorm(long size, double eps = 1e-5, Device? device = null) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(size, device: device));
        _eps = eps;
        RegisterComponents();
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
