using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>
/// A decoder block, or its attention, that runs within a <see cref="ForwardPass"/> (and so can continue from a
/// key/value cache); its plain forward is a pass of its own.
/// </summary>
public abstract class CachedBlock(string name) : nn.Module<Tensor, Tensor>(name)
{
    /// <param name="x">(batch, seq, hidden)</param>
    /// <returns>(batch, seq, hidden)</returns>
    public override Tensor forward(Tensor x)
    {
        using var pass = ForwardPass.Of(x);
        return Forward(x, pass, 0);
    }

    /// <summary>
    /// Gradient checkpointing (transformers' gradient_checkpointing_enable): when training without a cache, the block
    /// keeps only its input and runs again in the backward pass. See <see cref="GradientCheckpointing"/>.
    /// </summary>
    public bool Checkpointed { get; set; }

    /// <param name="x">(batch, new, hidden)</param>
    /// <param name="pass">The cache, rotary tables and masks this pass's layers share.</param>
    /// <param name="layer">This block's index in the cache.</param>
    public abstract Tensor Forward(Tensor x, ForwardPass pass, int layer);
}

/// <summary>Runs the blocks of a decoder in order, freeing each hidden state once the next exists; one <see cref="ForwardPass"/> for them all.</summary>
public static class DecoderStack
{
    /// <param name="hidden">(batch, new, hidden), consumed.</param>
    /// <returns>(batch, new, hidden) after the last block; the cache, when given, advanced by the new tokens.</returns>
    public static Tensor Run(Tensor hidden, IEnumerable<CachedBlock> blocks, KvCache? cache)
    {
        long tokens = hidden.shape[1];
        using var pass = new ForwardPass(cache, tokens, hidden.device);
        int layer = 0;
        foreach (var block in blocks)
        {
            int index = layer++;
            bool checkpoint = block.Checkpointed && cache is null && is_grad_enabled();
            // A frozen embedding's output needs no gradient, but a checkpoint's input must ask for one, or the
            // rerun would never be reached (transformers' enable_input_require_grads, for the same reason).
            if (checkpoint && !hidden.requires_grad) hidden.requires_grad_(true);
            var next = checkpoint
                ? CheckpointedBlock.apply(hidden, (Func<Tensor, Tensor>)(x =>
                {
                    using var own = new ForwardPass(null, x.shape[1], x.device);   // the backward's rerun outlives this pass
                    return block.Forward(x, own, index);
                }))
                : block.Forward(hidden, pass, index);
            hidden.Dispose();
            hidden = next;
        }
        cache?.Advance(tokens);
        return hidden;
    }
}
