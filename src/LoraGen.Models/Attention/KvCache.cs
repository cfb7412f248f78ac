using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>
/// Keys and values of the tokens seen so far, per layer, so that generating one more token computes
/// attention for that token only. Owns its tensors. <see cref="OfRows"/> makes a batch whose rows each continue
/// their own cache, at their own position (a serving engine's decode step).
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys, _values;
    private readonly KvCache[]? _rows;
    private long _length;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    private KvCache(KvCache[] rows) : this(0) => _rows = rows;

    /// <summary>
    /// A batch view: row i of the next forward continues <paramref name="rows"/>[i] (each a one-row cache) at that
    /// cache's own length. Rotary families attend each row to its own cache (<see cref="ForwardPass.RotaryAttention"/>);
    /// owns nothing (disposing it leaves the rows' caches alone).
    /// </summary>
    public static KvCache OfRows(IReadOnlyList<KvCache> rows)
    {
        if (rows.Count == 0 || rows.Any(r => r._rows is not null)) throw new ArgumentException("A batch of row caches needs one or more plain caches.", nameof(rows));
        return new KvCache(rows.ToArray());
    }

    /// <summary>The per-row caches of a batch view; null for a plain cache.</summary>
    public IReadOnlyList<KvCache>? Rows => _rows;

    /// <summary>Tokens already cached (the position of the next one).</summary>
    /// <exception cref="InvalidOperationException">A batch view, whose rows each have their own length.</exception>
    public long Length => _rows is null ? _length
        : throw new InvalidOperationException("A batch of row caches has one position per row; only rotary attention (ForwardPass.RotaryAttention) continues it, not learned positions (GPT-2).");

    /// <summary>Appends this step's keys and values for <paramref name="layer"/>; returns all of them so far.</summary>
    /// <param name="keys">(b, kvHeads, new, d)</param>
    /// <returns>(b, kvHeads, Length + new, d) each, owned by the cache.</returns>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        if (_rows is not null) throw new InvalidOperationException("A batch of row caches is appended to row by row (ForwardPass.RotaryAttention).");
        var allKeys = _keys[layer] is { } k ? cat([k, keys], 2) : keys.contiguous();
        var allValues = _values[layer] is { } v ? cat([v, values], 2) : values.contiguous();
        if (ReferenceEquals(allKeys, keys)) allKeys = keys.clone();
        if (ReferenceEquals(allValues, values)) allValues = values.clone();
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        _keys[layer] = allKeys.DetachFromDisposeScope();
        _values[layer] = allValues.DetachFromDisposeScope();
        return (allKeys, allValues);
    }

    /// <summary>Called once every layer has appended a step of <paramref name="tokens"/> (to every row, for a batch view).</summary>
    public void Advance(long tokens)
    {
        if (_rows is null) _length += tokens;
        else foreach (var row in _rows) row.Advance(tokens);
    }

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t?.Dispose();
    }
}
