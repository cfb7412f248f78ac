using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// Which dtype adapters live in and compute in, as peft decides it: a 16-bit base (fp16, bf16) gets fp32
/// adapters (<c>autocast_adapter_dtype=True</c>), any other base adapters of its own dtype. Merges and DoRA
/// norms compute in fp32 (fp64 where either side is fp64) and round once into the base.
/// </summary>
internal static class AdapterDtypes
{
    public static bool IsSixteenBit(ScalarType dtype) => dtype is ScalarType.Float16 or ScalarType.BFloat16;

    /// <summary>The dtype of new adapters on a base whose weight is in <paramref name="baseDtype"/>.</summary>
    public static ScalarType ForAdapter(ScalarType baseDtype, bool autocast) =>
        autocast && IsSixteenBit(baseDtype) ? ScalarType.Float32 : baseDtype;

    /// <summary>The more precise of two floating dtypes (fp64 &gt; fp32 &gt; the 16-bit ones).</summary>
    public static ScalarType Wider(ScalarType a, ScalarType b) => Rank(a) >= Rank(b) ? a : b;

    /// <summary>Where a merge of <paramref name="adapters"/> into a base of <paramref name="baseDtype"/> is computed.</summary>
    public static ScalarType Working(ScalarType baseDtype, IEnumerable<LoraAdapter> adapters) =>
        adapters.Aggregate(Working(baseDtype, baseDtype), (dtype, adapter) => Working(dtype, adapter.DType));

    /// <summary>Where merges and weight norms are computed: fp64 if either side is, else fp32.</summary>
    public static ScalarType Working(ScalarType a, ScalarType b) =>
        a == ScalarType.Float64 || b == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary><paramref name="tensor"/> in <paramref name="dtype"/> as a new handle, even when no conversion is needed, so the caller can always dispose it.</summary>
    public static Tensor Cast(Tensor tensor, ScalarType dtype) => tensor.dtype == dtype ? tensor.alias() : tensor.to(dtype);

    private static int Rank(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => 3,
        ScalarType.Float32 => 2,
        _ => 1,
    };
}
