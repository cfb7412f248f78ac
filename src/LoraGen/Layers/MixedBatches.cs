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
    public static void AddGathered(Tensor x, Tensor accumulator, Gathered gathered)
    {
        using var scope = NewDisposeScope();
        long rows = gathered.Index.shape[0], inFeatures = x.shape[^1];
        var tokens = x.index_select(0, gathered.Index).to(gathered.A.dtype).reshape(rows, -1, inFeatures);   // (n, t, in)
        var up = tokens.bmm(gathered.A.transpose(1, 2)).bmm(gathered.B.transpose(1, 2));                   // (n, t, rmax) → (n, t, out)
        accumulator.index_add_(0, gathered.Index, up.reshape([rows, .. accumulator.shape[1..]]).to(accumulator.dtype), 1);
    }

    /// <summary>
    /// The stacked weights of <see cref="AddGathered"/> for these rows. Building them copies every row's A and B, as
    /// much as the matmuls read, so a mixed-batch scope builds them once per layer and reuses them in every forward.
    /// </summary>
    public static Gathered Gather(IReadOnlyList<KeyValuePair<LoraAdapter, long[]>> groups, long inFeatures, long outFeatures, Device device)
    {
        using var scope = NewDisposeScope();
        var dtype = groups[0].Key.DType;
        long rmax = groups.Max(g => g.Key.Config.R);
        var padded = groups.ToDictionary(g => g.Key, g =>
        {
            var a = zeros([rmax, inFeatures], dtype, device);
            a.narrow(0, 0, g.Key.Config.R).copy_(g.Key.A.weight * g.Key.Scaling);     // (rmax, in), scaled as the adapter scales
            var b = zeros([outFeatures, rmax], dtype, device);
            b.narrow(1, 0, g.Key.Config.R).copy_(g.Key.B.weight);                     // (out, rmax)
            return (A: a, B: b);
        });
        var rows = groups.SelectMany(g => g.Value.Select(row => (Row: row, Adapter: g.Key))).ToArray();
        return new Gathered(
            tensor(rows.Select(r => r.Row).ToArray(), device: device).DetachFromDisposeScope(),   // owned by the scope's cache, not the forward's
            stack(rows.Select(r => padded[r.Adapter].A).ToArray()).DetachFromDisposeScope(),   // (n, rmax, in)
            stack(rows.Select(r => padded[r.Adapter].B).ToArray()).DetachFromDisposeScope());  // (n, out, rmax)
    }

    /// <summary>The gathered rows' indices (n), and their stacked A (n, rmax, in) and B (n, out, rmax).</summary>
    public sealed record Gathered(Tensor Index, Tensor A, Tensor B) : IDisposable
    {
        public void Dispose()
        {
            Index.Dispose();
            A.Dispose();
            B.Dispose();
        }
    }
}
