using static TorchSharp.torch;

namespace LoraGen.Quantization;

/// <summary>
/// y = x·Wᵀ for a 4-bit W, as an autograd function: the forward dequantizes W, multiplies and drops it;
/// the backward dequantizes again for ∂x = ∂y·W. Nothing of W's full-precision size is kept from
/// forward to backward, and W gets no gradient (it is frozen). bitsandbytes' MatMul4Bit does the same.
/// </summary>
internal sealed class FourBitMatMul : autograd.SingleTensorFunction<FourBitMatMul>
{
    private const string WeightKey = "weight";

    public override string Name => nameof(FourBitMatMul);

    /// <param name="vars">[0] x (..., in); [1] the <see cref="QuantizedWeight"/> (out, in).</param>
    /// <returns>(..., out)</returns>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var weight = (QuantizedWeight)vars[1];
        ctx.save_data(WeightKey, weight);
        using var _ = no_grad();
        using var dense = weight.Dequantize(x.dtype);          // (out, in), freed on return
        return nn.functional.linear(x, dense);
    }

    /// <returns>∂x = ∂y·W, and no gradient for the weight.</returns>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var weight = (QuantizedWeight)ctx.get_data(WeightKey);
        using var dense = weight.Dequantize(gradOutput.dtype);
        return [gradOutput.matmul(dense), null!];
    }
}
