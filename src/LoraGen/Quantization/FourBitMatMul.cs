using static TorchSharp.torch;

namespace LoraGen.Quantization;

/// <summary>
/// y = x·Wᵀ for a 4-bit W, as an autograd function: the forward dequantizes W, multiplies and drops it;
/// the backward dequantizes again for ∂x = ∂y·W. Nothing of W's full-precision size is kept from
/// forward to backward, and W gets no gradient (it is frozen). bitsandbytes' MatMul4Bit does the same.
/// The 4-bit state goes through <c>save_for_backward</c>, so the graph holds its own references: a merge
/// that replaces (and disposes) the layer's weight between forward and backward cannot pull it away.
/// </summary>
internal sealed class FourBitMatMul : autograd.SingleTensorFunction<FourBitMatMul>
{
    private const string LayoutKey = "layout";

    public override string Name => nameof(FourBitMatMul);

    /// <param name="vars">[0] x (..., in); [1] the <see cref="QuantizedWeight"/> (out, in).</param>
    /// <returns>(..., out)</returns>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var weight = (QuantizedWeight)vars[1];
        ctx.save_for_backward([.. weight.StateTensors()]);
        ctx.save_data(LayoutKey, new Layout(weight.Shape, weight.Type, weight.BlockSize));
        using var _ = no_grad();
        using var dense = weight.Dequantize(x.dtype);          // (out, in), freed on return
        return nn.functional.linear(x, dense);
    }

    /// <returns>∂x = ∂y·W, and no gradient for the weight.</returns>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var layout = (Layout)ctx.get_data(LayoutKey);
        using var weight = QuantizedWeight.FromStateTensors(layout.Shape, layout.Type, layout.BlockSize, ctx.get_saved_variables());
        using var dense = weight.Dequantize(gradOutput.dtype);
        return [gradOutput.matmul(dense), null!];
    }

    private sealed record Layout(long[] Shape, QuantType Type, int BlockSize);
}
