using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// The frozen layer under a <see cref="LoraLinear"/>, registered as its <c>base_layer</c>: what adapters need of
/// it whether its weight is dense (<see cref="DenseBase"/>) or 4-bit (<see cref="FourBitBase"/>).
/// </summary>
public abstract class FrozenBase
{
    private protected FrozenBase() { }

    /// <summary>The layer itself: a TorchSharp Linear or a <see cref="FourBitLinear"/>.</summary>
    public abstract nn.Module<Tensor, Tensor> Module { get; }

    public abstract long InFeatures { get; }

    public abstract long OutFeatures { get; }

    public abstract Parameter? Bias { get; }

    /// <summary>The dtype of the weight's values: the parameter's, or the dtype a 4-bit weight was quantized from.</summary>
    public abstract ScalarType DType { get; }

    /// <summary>
    /// (out, in) the weight in <paramref name="dtype"/>, for reading: it may share storage with the parameter,
    /// so never change it in place. Dispose it (or create it in a dispose scope).
    /// </summary>
    public abstract Tensor DenseWeight(ScalarType dtype);

    /// <param name="x">(..., in)</param>
    /// <returns>(..., out) x·Wᵀ, no bias.</returns>
    internal abstract Tensor ForwardWithoutBias(Tensor x);

    /// <summary>
    /// Applies <paramref name="change"/> to the weight held in <paramref name="dtype"/> and stores the result:
    /// in place when the parameter already is in that dtype and <paramref name="inPlace"/> allows it, else on a
    /// copy written back at the end (rounded once to the base dtype, or quantized again). If
    /// <paramref name="change"/> throws on a copy, the base is left as it was.
    /// </summary>
    /// <returns>The rounding a 4-bit base introduced; null for a dense base.</returns>
    internal abstract QuantizationError? Rewrite(ScalarType dtype, bool inPlace, Action<Tensor> change);

    /// <summary>
    /// Puts back the weight as it was before the first <see cref="Rewrite"/> since the last restore, where the
    /// base kept it (a 4-bit base keeps its pre-merge codes: 4 bits a weight). False where it keeps nothing.
    /// </summary>
    internal virtual bool TryRestorePreMerge() => false;

    /// <summary>
    /// Until disposed, computes with the pre-merge weight and keeps the merged one aside, bit for bit; null where
    /// the base keeps no pre-merge weight.
    /// </summary>
    internal virtual IDisposable? ShowPreMerge() => null;

    /// <summary>Frees what the base keeps beside its module (the module goes with the LoraLinear that registered it).</summary>
    internal virtual void ReleaseKeptState() { }
}
