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

    /// <summary>Rotates the first r = cos's width dimensions of each head; the rest pass unchanged (Phi's partial_rotary_factor).</summary>
    /// <param name="x">(batch, heads, seq, headDim)</param>
    /// <param name="cos">(seq, r), r ≤ headDim</param>
    /// <param name="sin">(seq, r)</param>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        long r = cos.shape[^1], half = r / 2, d = x.shape[^1];
        var part = r == d ? x.alias() : x.narrow(-1, 0, r);                       // (b, heads, s, r)
        var rotated = cat([part.narrow(-1, half, half).neg(), part.narrow(-1, 0, half)], -1);   // rotate_half: (−x₂, x₁)
        var turned = part * cos + rotated * sin;
        return (r == d ? turned : cat([turned, x.narrow(-1, r, d - r)], -1)).MoveToOuterDisposeScope();
    }
}
