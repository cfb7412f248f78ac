using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>
/// Rotary position embeddings in Hugging Face's rotate-half layout: the first and second halves of each
/// head's dimensions form the rotated pairs, at frequencies θ^(−2i/d).
/// </summary>
public static class Rotary
{
    /// <returns>cos and sin, each (seq, headDim), for positions 0..seq-1, computed in fp32 and given in <paramref name="dtype"/>.</returns>
    /// <param name="scaling">rope_scaling (linear, llama3), applied to the frequencies as transformers does.</param>
    public static (Tensor Cos, Tensor Sin) Tables(long seq, long headDim, double theta, Device device, ScalarType dtype = ScalarType.Float32,
        Planning.RopeScaling? scaling = null)
    {
        using var scope = NewDisposeScope();
        var inverse = tensor(Planning.RopeScaling.InverseFrequencies(theta, headDim, scaling, seq), dtype: float32, device: device);   // (d/2,)
        var angles = outer(arange(seq, dtype: float32, device: device), inverse);                     // (seq, d/2)
        var both = cat([angles, angles], -1);                                                         // (seq, d)
        double factor = scaling?.AttentionFactor ?? 1;                                                // yarn scales cos and sin
        return (both.cos().mul_(factor).to(dtype).MoveToOuterDisposeScope(), both.sin().mul_(factor).to(dtype).MoveToOuterDisposeScope());
    }

    /// <param name="x">(batch, heads, seq, headDim)</param>
    /// <param name="cos">(seq, headDim)</param>
    /// <param name="sin">(seq, headDim)</param>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        using var first = x.narrow(-1, 0, half);
        using var second = x.narrow(-1, half, half);
        using var negated = second.neg();
        using var rotated = cat([negated, first], -1);        // rotate_half(x) = (−x₂, x₁)
        using var a = x * cos;
        using var b = rotated * sin;
        return a + b;
    }
}
