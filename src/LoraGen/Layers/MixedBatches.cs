using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>The two ways a <see cref="LoraLinear"/> adds per-row adapter terms to a mixed-adapter batch.</summary>
internal static class MixedBatches
{
    /// <summary>
    /// Segment (SGMV): the rows of one adapter taken out, the adapter's own forward run on them (any kind: plain,
    /// DoRA; dropout when training), and their outputs put back.
    /// </summary>
    /// <param name="x">(rows, ..., in)</param>
    /// <param name="accumulator">(rows, ..., out), updated in place for <paramref name="rowIndices"/> only.</param>
    public static void AddSegment(Tensor x, Tensor accumulator, LoraAdapter adapter, long[] rowIndices, FrozenBase frozenBase, bool training)
    {
        using var index = tensor(rowIndices, device: x.device);
        using var input = x.index_select(0, index);                                // (n, ..., in)
        using var segment = accumulator.index_select(0, index);                    // (n, ..., out), a copy
        using (var pass = new AdapterForward(input, segment, frozenBase, training))
        {
            if (adapter.Magnitude is not null) pass.CaptureBaseOutput();
            adapter.AddTo(pass);
        }
        accumulator.index_copy_(0, index, segment);
    }

    /// <summary>
    /// Gather (BGMV): each row's A (r, in) and B (out, r), zero-padded to the largest rank and scaled, stacked into
    /// (rows, rmax, in) and (rows, out, rmax); then two batched matmuls for all rows at once. Padding adds exact zeros.
    /// </summary>
    public static void AddGathered(Tensor x, Tensor accumulator, IReadOnlyList<KeyValuePair<LoraAdapter, long[]>> groups)
    {
        using var scope = NewDisposeScope();
        var dtype = groups[0].Key.DType;
        long rmax = groups.Max(g => g.Key.Config.R), inFeatures = x.shape[^1], outFeatures = accumulator.shape[^1];
        var padded = groups.ToDictionary(g => g.Key, g =>
        {
            var a = zeros([rmax, inFeatures], dtype, x.device);
            a.narrow(0, 0, g.Key.Config.R).copy_(g.Key.A.weight * g.Key.Scaling);     // (rmax, in), scaled as the adapter scales
            var b = zeros([outFeatures, rmax], dtype, x.device);
            b.narrow(1, 0, g.Key.Config.R).copy_(g.Key.B.weight);                     // (out, rmax)
            return (A: a, B: b);
        });
        var rows = groups.SelectMany(g => g.Value.Select(row => (Row: row, Adapter: g.Key))).ToArray();
        var index = tensor(rows.Select(r => r.Row).ToArray(), device: x.device);
        var a = stack(rows.Select(r => padded[r.Adapter].A).ToArray());               // (n, rmax, in)
        var b = stack(rows.Select(r => padded[r.Adapter].B).ToArray());               // (n, out, rmax)
        var input = x.index_select(0, index).to(dtype);
        var tokens = input.reshape(rows.Length, -1, inFeatures);                      // (n, t, in)
        var up = tokens.bmm(a.transpose(1, 2)).bmm(b.transpose(1, 2));               // (n, t, rmax) → (n, t, out)
        accumulator.index_add_(0, index, up.reshape([rows.Length, .. accumulator.shape[1..]]).to(accumulator.dtype), 1);
    }
}
