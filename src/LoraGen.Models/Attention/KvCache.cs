using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>
/// Keys and values of the tokens seen so far, per layer, so that generating one more token computes
/// attention for that token only. Owns its tensors.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys, _values;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Tokens already cached (the position of the next one).</summary>
    public long Length { get; private set; }

    /// <summary>Appends this step's keys and values for <paramref name="layer"/>; returns all of them so far.</summary>
    /// <param name="keys">(b, kvHeads, new, d)</param>
    /// <returns>(b, kvHeads, Length + new, d) each, owned by the cache.</returns>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
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

    /// <summary>Called once every layer has appended a step of <paramref name="tokens"/>.</summary>
    public void Advance(long tokens) => Length += tokens;

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t?.Dispose();
    }
}
