using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>The part every decoder's attention shares: grouped-query expansion and causal softmax attention.</summary>
public static class CausalAttention
{
    /// <summary>Each of <paramref name="kvHeads"/> heads serves heads/kvHeads query heads: (b, kvHeads, s, d) → (b, heads, s, d).</summary>
    public static Tensor ExpandKv(Tensor kv, int heads, int kvHeads) =>
        kvHeads == heads ? kv.alias() : kv.repeat_interleave(heads / kvHeads, dim: 1);

    /// <summary>softmax(q·kᵀ·scale, future masked)·v, heads merged back; the softmax in fp32 and rounded to q's dtype, as transformers does.</summary>
    /// <param name="q">(b, heads, s, d): the new tokens, at positions past .. past+s−1</param>
    /// <param name="k">(b, heads, past+s, d): every token so far</param>
    /// <param name="v">(b, heads, past+s, d)</param>
    /// <param name="window">A sliding window (Mistral): query i sees keys j with i − window &lt; j ≤ i; null: every earlier key.</param>
    /// <param name="scale">What the scores are multiplied by; 1/√d when null (Gemma: query_pre_attn_scalar^−½).</param>
    /// <param name="softcap">Gemma 2's attn_logit_softcapping: scores become tanh(s / cap)·cap, before the mask as transformers' eager path does.</param>
    /// <returns>(b, s, heads·d)</returns>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, int? window = null, double? scale = null, double? softcap = null)
    {
        using var masked = MaskedKeys(q.shape[2], k.shape[2], window, q.device);
        return Attend(q, k, v, masked, scale, softcap);
    }

    /// <summary>The same with the mask given: a forward pass builds it once for all its layers (<see cref="ForwardPass"/>).</summary>
    /// <param name="masked">(s, past+s) bool: true where a query must not see a key.</param>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor masked, double? scale = null, double? softcap = null)
    {
        using var scope = NewDisposeScope();
        long batch = q.shape[0], heads = q.shape[1], seq = q.shape[2], d = q.shape[3];
        var scores = q.matmul(k.transpose(-2, -1)) * (scale ?? 1 / Math.Sqrt(d));   // (b, heads, s, past+s)
        if (softcap is double cap) scores = (scores / cap).tanh() * cap;
        var wide = q.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;         // never narrower than fp32
        var weights = nn.functional.softmax(scores.masked_fill(masked, float.NegativeInfinity), -1, wide).to(q.dtype);
        return weights.matmul(v).transpose(1, 2).reshape(batch, seq, heads * d).MoveToOuterDisposeScope();
    }

    /// <summary>Which keys each new query must not see: later ones, and with a window those window or more positions back.</summary>
    /// <returns>(seq, total) bool, for queries at positions total−seq .. total−1</returns>
    public static Tensor MaskedKeys(long seq, long total, int? window, Device device)
    {
        using var scope = NewDisposeScope();
        var future = ones(seq, total, dtype: ScalarType.Bool, device: device).triu(total - seq + 1);   // key j > past + i
        if (window is int w)
            future = future.logical_or(ones(seq, total, dtype: ScalarType.Bool, device: device).tril(total - seq - w));   // key j ≤ past + i − w
        return future.MoveToOuterDisposeScope();
    }
}
