using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>A dense TorchSharp Linear as the frozen base (fp32, fp64, fp16 or bf16).</summary>
public sealed class DenseBase : FrozenBase
{
    internal DenseBase(Linear linear) => Linear = linear;

    public Linear Linear { get; }

    public override nn.Module<Tensor, Tensor> Module => Linear;

    public override long InFeatures => Linear.in_features;

    public override long OutFeatures => Linear.out_features;

    public override Parameter? Bias => Linear.bias;

    public override ScalarType DType => Linear.weight.dtype;

    public override Tensor DenseWeight(ScalarType dtype) =>
        dtype == DType ? Linear.weight.detach() : Linear.weight.to(dtype);

    internal override Tensor ForwardWithoutBias(Tensor x)
    {
        if (x.dtype == DType) return nn.functional.linear(x, Linear.weight);
        using var cast = x.to(DType);
        return nn.functional.linear(cast, Linear.weight);
    }

    internal override QuantizationError? Rewrite(ScalarType dtype, bool inPlace, Action<Tensor> change)
    {
        var weight = Linear.weight;
        if (inPlace && weight.dtype == dtype)
        {
            change(weight);                       // no second copy of W
            return null;
        }
        using var copy = weight.dtype == dtype ? weight.detach().clone() : weight.to(dtype);   // (out, in); the caller runs under no_grad
        change(copy);
        weight.copy_(copy);                       // the one rounding into a 16-bit base
        return null;
    }
}
