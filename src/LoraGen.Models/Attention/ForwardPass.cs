using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>
/// What the layers of one forward pass share: the key/value cache when generating, and the rotary tables and the
/// causal masks, built by the first layer that asks and reused by the rest (transformers too builds them once per
/// forward, not per layer). With a batch of row caches (<see cref="KvCache.OfRows"/>) each row has its own position,
/// tables and mask. Lives for one pass and owns what it built.
/// </summary>
public sealed class ForwardPass : IDisposable
{
    private readonly Dictionary<(long Dimensions, double Theta, RopeScaling? Scaling, ScalarType Dtype, long Past), (Tensor Cos, Tensor Sin)> _rotary = new();
    private readonly Dictionary<(int Window, long Past), Tensor> _masks = new();     // window int.MaxValue: none
    private readonly Device _device;

    /// <param name="tokens">The new tokens of this pass (they follow the cache's).</param>
    public ForwardPass(KvCache? cache, long tokens, Device device)
    {
        Cache = cache;
        Tokens = tokens;
        _device = device;
    }

    /// <summary>A pass over <paramref name="x"/> (batch, seq, hidden) alone, without a cache: one module's own forward.</summary>
    public static ForwardPass Of(Tensor x) => new(null, x.shape[1], x.device);

    public KvCache? Cache { get; }

    /// <summary>Tokens before this pass's (the position of its first).</summary>
    public long Past => Cache?.Length ?? 0;

    public long Tokens { get; }

    /// <summary>cos and sin for this pass's positions (Past .. Past+Tokens−1), each (tokens, dimensions), in <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) Rotary(long dimensions, double theta, RopeScaling? scaling, ScalarType dtype) => Rotary(dimensions, theta, scaling, dtype, Past);

    /// <summary>The same for tokens after <paramref name="past"/> others (one row of a batch of row caches).</summary>
    private (Tensor Cos, Tensor Sin) Rotary(long dimensions, double theta, RopeScaling? scaling, ScalarType dtype, long past)
    {
        var key = (dimensions, theta, scaling, dtype, past);
        if (_rotary.TryGetValue(key, out var tables)) return tables;
        using var scope = NewDisposeScope();
        var (cos, sin) = Llama.Rotary.Tables(past + Tokens, dimensions, theta, _device, dtype, scaling);   // dynamic NTK needs the whole length
        tables = (cos.narrow(0, past, Tokens).DetachFromDisposeScope(), sin.narrow(0, past, Tokens).DetachFromDisposeScope());
        _rotary[key] = tables;
        return tables;
    }

    /// <summary>(tokens, Past+Tokens) bool: the keys each new query must not see (<see cref="CausalAttention.MaskedKeys"/>).</summary>
    public Tensor Mask(int? window) => Mask(window, Past);

    private Tensor Mask(int? window, long past)
    {
        var key = (window ?? int.MaxValue, past);
        if (!_masks.TryGetValue(key, out var mask))
            _masks[key] = mask = CausalAttention.MaskedKeys(Tokens, past + Tokens, window, _device).DetachFromDisposeScope();
        return mask;
    }

    /// <summary>
    /// What every rotary attention does once it has its heads: turn the first <paramref name="rotated"/> dimensions of q
    /// and k to this pass's positions, extend the layer's cache, and attend causally (within <paramref name="window"/>).
    /// </summary>
    /// <param name="q">(b, heads, s, d)</param>
    /// <param name="k">(b, kvHeads, s, d)</param>
    /// <param name="v">(b, kvHeads, s, d)</param>
    /// <returns>(b, s, heads·d), before the output projection</returns>
    public Tensor RotaryAttention(Tensor q, Tensor k, Tensor v, int layer, long rotated, double theta, RopeScaling? scaling,
        int? window, double? scale = null, double? softcap = null)
    {
        using var scope = NewDisposeScope();
        if (Cache?.Rows is not { } rows) return Attend(q, k, v, Cache, Past).MoveToOuterDisposeScope();
        // Projections were batched; each row turns, caches and attends at its own position (its cache's length).
        var mixed = rows.Select((cache, row) => Attend(q.narrow(0, row, 1), k.narrow(0, row, 1), v.narrow(0, row, 1), cache, cache.Length)).ToArray();
        return cat(mixed, 0).MoveToOuterDisposeScope();                          // (b, s, heads·d)

        Tensor Attend(Tensor q, Tensor k, Tensor v, KvCache? cache, long past)
        {
            var (cos, sin) = Rotary(rotated, theta, scaling, q.dtype, past);      // (s, rotated): positions past .. past+s−1
            q = Llama.Rotary.Apply(q, cos, sin);
            k = Llama.Rotary.Apply(k, cos, sin);
            if (cache is not null) (k, v) = cache.Append(layer, k, v);           // (b, kvHeads, past+s, d)
            int heads = (int)q.shape[1], kvHeads = (int)k.shape[1];
            return CausalAttention.Attend(q, CausalAttention.ExpandKv(k, heads, kvHeads), CausalAttention.ExpandKv(v, heads, kvHeads),
                Mask(window, past), scale, softcap);
        }
    }

    public void Dispose()
    {
        foreach (var (cos, sin) in _rotary.Values)
        {
            cos.Dispose();
            sin.Dispose();
        }
        foreach (var mask in _masks.Values) mask.Dispose();
    }
}
