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
    private QuantizedWeight? _preMerge;

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
        if (_preMerge is null) _preMerge = previous;             // the codes unmerge restores
        else previous.Dispose();                                 // an intermediate merge: nothing to keep
        return error;
    }

    internal override bool TryRestorePreMerge()
    {
        if (_preMerge is null) return false;
        Layer.Swap(_preMerge).Dispose();
        _preMerge = null;
        return true;
    }

    internal override IDisposable? ShowPreMerge()
    {
        if (_preMerge is null) return null;
        var merged = Layer.Swap(_preMerge);
        return new SwapBack(this, merged);
    }

    internal override void ReleaseKeptState()
    {
        _preMerge?.Dispose();
        _preMerge = null;
    }

    private sealed class SwapBack(FourBitBase owner, QuantizedWeight merged) : IDisposable
    {
        private QuantizedWeight? _merged = merged;

        public void Dispose()
        {
            if (_merged is null) return;
            owner._preMerge = owner.Layer.Swap(_merged);
            _merged = null;
        }
    }
}
