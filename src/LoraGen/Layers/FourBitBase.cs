using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// A <see cref="FourBitLinear"/> as the frozen base (QLoRA). A merge dequantizes, changes and quantizes again;
/// the codes from before the first merge are kept (4 bits a weight) so that unmerging restores them exactly.
/// </summary>
public sealed class FourBitBase : FrozenBase
{
    internal FourBitBase(FourBitLinear layer) => Layer = layer;

    public FourBitLinear Layer { get; }

    public override nn.Module<Tensor, Tensor> Module => Layer;

    public override long InFeatures => Layer.InFeatures;

    public override long OutFeatures => Layer.OutFeatures;

    public override Parameter? Bias => Layer.Bias;

    public override ScalarType DType => Layer.DType;

    public override Tensor DenseWeight(ScalarType dtype) => Layer.DequantizedWeight(dtype);

    internal override Tensor ForwardWithoutBias(Tensor x) => Layer.ForwardWithoutBias(x);

    internal override QuantizationError? Rewrite(ScalarType dtype, bool inPlace, Action<Tensor> change)
    {
        var current = Layer.Weight;
        using var dense = current.Dequantize(dtype);            // (out, in)
        change(dense);
        var next = QuantizedWeight.Quantize(dense, current.Type, current.BlockSize, current.DoubleQuantized, Layer.GetName());
        var error = next.ErrorAgainst(dense);
        var previous = Layer.Swap(next);
        if (Layer.KeptWeight is null) Layer.KeptWeight = previous;     // the codes unmerge restores
        else previous.Dispose();                                 // an intermediate merge: nothing to keep
        return error;
    }

    internal override bool TryRestorePreMerge()
    {
        if (Layer.KeptWeight is null) return false;
        Layer.Swap(Layer.KeptWeight).Dispose();
        Layer.KeptWeight = null;
        return true;
    }

    internal override IDisposable? ShowPreMerge()
    {
        if (Layer.KeptWeight is not { } preMerge) return null;
        Layer.KeptWeight = null;                                 // shown now: the layer holds it as its weight
        return new SwapBack(this, Layer.Swap(preMerge));
    }

    internal override void ReleaseKeptState()
    {
        Layer.KeptWeight?.Dispose();
        Layer.KeptWeight = null;
    }

    private sealed class SwapBack(FourBitBase owner, QuantizedWeight merged) : IDisposable
    {
        private QuantizedWeight? _merged = merged;

        public void Dispose()
        {
            if (_merged is null) return;
            owner.Layer.KeptWeight = owner.Layer.Swap(_merged);
            _merged = null;
        }
    }
}
