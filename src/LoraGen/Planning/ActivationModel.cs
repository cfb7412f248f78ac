namespace LoraGen.Planning;

/// <summary>
/// Elements kept for the backward pass, counted from what the reference implementations save (tests check
/// the result against the peak memory of a real CPU training step). Per Llama-family layer, with
/// t = batch·seq tokens: the two norms keep their input and output (4·t·hidden), attention keeps the rotated q,
/// the (expanded) k and v and its output (4·t·hidden) and the softmax (batch·heads·seq²), the MLP keeps
/// gate, its SiLU, up and their product (4·t·intermediate); each adapter keeps its rank-r projection.
/// Backward adds the gradients of one layer's activations. With gradient checkpointing only each layer's
/// input stays, plus one layer recomputed during backward.
/// </summary>
public static class ActivationModel
{
    /// <returns>Elements: without checkpointing, with it, and of the logits (tokens × vocabulary, three copies).</returns>
    /// <param name="adaptedLayers">How many Linear layers carry an adapter (all instances together).</param>
    public static (long Full, long Checkpointed, long Logits) For(PlanRequest request, long adaptedLayers)
    {
        checked
        {
        var c = request.Config;
        long t = (long)request.Batch * request.Sequence;
        long scores = (long)request.Batch * c.Heads * request.Sequence * request.Sequence;
        long perLayer = c.Family switch
        {
            ModelFamily.Gpt2 => t * (4L * c.HiddenSize + 3 * c.HiddenSize + 2 * c.HiddenSize + 2L * c.IntermediateSize) + 2 * scores,
            ModelFamily.Phi => t * (2L * c.HiddenSize + 4 * c.HiddenSize + 2L * c.IntermediateSize) + scores,
            _ => t * (8L * c.HiddenSize + 4L * c.IntermediateSize) + scores,
        };
        long adapters = t * request.Rank * adaptedLayers / Math.Max(1, c.Layers);
        long layer = perLayer + adapters;
        long final = 2 * t * c.HiddenSize;                                   // the final norm
        // Backward also holds the gradients of one layer's activations while it works through that layer.
        long full = c.Layers * layer + final + layer;
        long checkpointed = c.Layers * t * c.HiddenSize + layer + final + layer;
        // The logits, their contiguous copy for the shifted targets, and the log-softmax the loss keeps.
        long logits = 3L * request.Batch * request.Sequence * c.VocabSize;
        return (full, checkpointed, logits);
        }
    }
}
