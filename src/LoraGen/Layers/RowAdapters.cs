namespace LoraGen.Layers;

/// <summary>How a mixed-adapter batch computes its adapters' terms.</summary>
public enum MixedBatchStrategy
{
    /// <summary>Rows grouped by adapter, one pair of GEMMs per group (S-LoRA/Punica's SGMV); any adapter kind, dropout in training.</summary>
    Segment,

    /// <summary>
    /// Every plain-LoRA row's A and B gathered (zero-padded to the largest rank) into one batched matmul pair
    /// (Punica's BGMV); DoRA rows, and everything in training mode, go by segment.
    /// </summary>
    Gather,
}

/// <summary>Which adapter each row (sequence) of a batch computes with, or null for the base alone (peft's <c>adapter_names</c>).</summary>
public sealed record RowAdapters(IReadOnlyList<string?> Names, MixedBatchStrategy Strategy = MixedBatchStrategy.Segment)
{
    /// <summary>Gather's stacked weights per layer: built by the layer's first forward in this scope, freed when the scope ends.</summary>
    internal Dictionary<LoraLinear, MixedBatches.Gathered> Gathered { get; } = new(ReferenceEqualityComparer.Instance);
}
