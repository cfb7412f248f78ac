using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>
/// What the layers of one forward pass share: the key/value cache when generating, and the rotary tables and the
/// causal masks, built by the first layer that asks and reused by the rest (transformers too builds them once per
/// forward, not per layer). With a batch of row caches (<see cref="KvCache.OfRows"/>) each row has its own positions
/// and tables, and the mask covers every row's padding. Lives for one pass and owns what it built.
/// </summary>
public sealed class ForwardPass : IDisposable
{
    private readonly Dictionary<(long Dimensions, double Theta, RopeScaling? Scaling, ScalarType Dtype, long Past), (Tensor Cos, Tensor Sin)> _rotary = new();
    private readonly Dictionary<int, Tensor> _masks = new();                      // by window; int.MaxValue: none
    private readonly Dictionary<(long Dimensions, double Theta, RopeScaling? Scaling, ScalarType Dtype), (Tensor Cos, Tensor Sin)> _rowRotary = new();
    private readonly Dictionary<int, Tensor> _rowMasks = new();                     // by window, for a batch of row caches
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
    public Tensor Mask(int? window)
    {
        int key = window ?? int.MaxValue;
        if (!_masks.TryGetValue(key, out var mask))
            _masks[key] = mask = CausalAttention.MaskedKeys(Tokens, Past + Tokens, window, _device).DetachFromDisposeScope();
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
        if (Cache?.Rows is not { } rows)
        {
            var (cos, sin) = Rotary(rotated, theta, scaling, q.dtype);            // (s, rotated): positions past .. past+s−1
            q = Llama.Rotary.Apply(q, cos, sin);
            k = Llama.Rotary.Apply(k, cos, sin);
            if (Cache is { } cache) (k, v) = cache.Append(layer, k, v);          // (b, kvHeads, past+s, d)
            return Attend(q, k, v, Mask(window)).MoveToOuterDisposeScope();
        }
        // Projections were batched. Each row turns at its own positions and extends its own cache; the caches are then
        // padded to the longest and attended in one batch, each row's padding and future masked.
        var (rowCos, rowSin) = RowRotary(rows, rotated, theta, scaling, q.dtype);   // (b, 1, s, rotated)
        q = Llama.Rotary.Apply(q, rowCos, rowSin);
        k = Llama.Rotary.Apply(k, rowCos, rowSin);
        var keys = new Tensor[rows.Count];
        var values = new Tensor[rows.Count];
        for (int row = 0; row < rows.Count; row++)
        {
            var (rowKeys, rowValues) = rows[row].Append(layer, k.narrow(0, row, 1), v.narrow(0, row, 1));   // (1, kvHeads, past_row+s, d)
            keys[row] = rowKeys[0].transpose(0, 1);                              // (past_row+s, kvHeads, d): pad_sequence pads dim 0
            values[row] = rowValues[0].transpose(0, 1);
        }
        var paddedKeys = nn.utils.rnn.pad_sequence(keys, batch_first: true).transpose(1, 2);       // (b, kvHeads, longest, d), zeros after each row's own
        var paddedValues = nn.utils.rnn.pad_sequence(values, batch_first: true).transpose(1, 2);
        return Attend(q, paddedKeys, paddedValues, RowMask(rows, window)).MoveToOuterDisposeScope();   // (b, s, heads·d)

        Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor masked)
        {
            int heads = (int)q.shape[1], kvHeads = (int)k.shape[1];
            return CausalAttention.Attend(q, CausalAttention.ExpandKv(k, heads, kvHeads), CausalAttention.ExpandKv(v, heads, kvHeads), masked, scale, softcap);
        }
    }

    /// <summary>cos and sin of every row of a batch of row caches at that row's own positions, each (b, 1, s, dimensions).</summary>
    private (Tensor Cos, Tensor Sin) RowRotary(IReadOnlyList<KvCache> rows, long dimensions, double theta, RopeScaling? scaling, ScalarType dtype)
    {
        var key = (dimensions, theta, scaling, dtype);
        if (_rowRotary.TryGetValue(key, out var tables)) return tables;
        var perRow = rows.Select(row => Rotary(dimensions, theta, scaling, dtype, row.Length)).ToArray();   // each (s, dimensions), one per distinct length
        tables = (stack(perRow.Select(t => t.Cos)).unsqueeze(1).DetachFromDisposeScope(), stack(perRow.Select(t => t.Sin)).unsqueeze(1).DetachFromDisposeScope());
        _rowRotary[key] = tables;
        return tables;
    }

    /// <summary>
    /// (b, 1, s, longest) bool for a batch of row caches padded to the longest: row i's query t, at position
    /// past_i + t, must not see later keys (which include the padding after a shorter row's cache), nor, with a window,
    /// keys window or more positions back.
    /// </summary>
    private Tensor RowMask(IReadOnlyList<KvCache> rows, int? window)
    {
        int key = window ?? int.MaxValue;
        if (_rowMasks.TryGetValue(key, out var mask)) return mask;
        using var scope = NewDisposeScope();
        var query = tensor(rows.Select(r => r.Length).ToArray(), device: _device).view(-1, 1, 1) + arange(Tokens, device: _device).view(1, -1, 1);   // (b, s, 1)
        var keyAt = arange(rows.Max(r => r.Length) + Tokens, device: _device).view(1, 1, -1);       // (1, 1, longest)
        var masked = keyAt.gt(query);                                                                  // (b, s, longest)
        if (window is int w) masked = masked.logical_or(keyAt.le(query - w));
        _rowMasks[key] = mask = masked.unsqueeze(1).DetachFromDisposeScope();
        return mask;
    }

    public void Dispose()
    {
        foreach (var (cos, sin) in _rotary.Values)
        {
            cos.Dispose();
            sin.Dispose();
        }
        foreach (var (cos, sin) in _rowRotary.Values)
        {
            cos.Dispose();
            sin.Dispose();
        }
        foreach (var mask in _masks.Values.Concat(_rowMasks.Values)) mask.Dispose();
    }
}
