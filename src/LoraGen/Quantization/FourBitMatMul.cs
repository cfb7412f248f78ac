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
        using var dense = Dense(weight, x);                    // (out, in), not kept
        return nn.functional.linear(x, dense);
    }

    /// <returns>∂x = ∂y·W, and no gradient for the weight.</returns>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var weight = (QuantizedWeight)ctx.get_data(WeightKey);
        using var dense = Dense(weight, gradOutput);
        return [gradOutput.matmul(dense), null!];
    }

    /// <summary>
    /// The dense weight in <paramref name="like"/>'s dtype. On the CPU in fp32 it lands in a per-thread
    /// workspace that grows to the largest layer and is reused, as Unsloth reuses one buffer: allocating
    /// and freeing a layer-sized buffer per call makes glibc raise its mmap threshold and keep freed
    /// buffers in a fragmented heap (measured: peak RSS 2x higher).
    /// </summary>
    private static Tensor Dense(QuantizedWeight weight, Tensor like)
    {
        if (like.device_type != TorchSharp.DeviceType.CPU || like.dtype != ScalarType.Float32 || weight.Packed.device_type != TorchSharp.DeviceType.CPU)
            return weight.Dequantize(like.dtype);
        if (_workspace is null || _workspace.numel() < weight.Count)
        {
            _workspace?.Dispose();
            _workspace = empty(weight.Count, dtype: float32);
            _workspace.DetachFromDisposeScope();
        }
        var dense = _workspace.narrow(0, 0, weight.Count).view(weight.Shape);
        weight.DequantizeInto(dense);
        return dense;
    }

    [ThreadStatic]
    private static Tensor? _workspace;
}
