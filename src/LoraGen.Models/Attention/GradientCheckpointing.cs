using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>transformers' gradient_checkpointing_enable / _disable for the reference models' decoder blocks.</summary>
public static class GradientCheckpointing
{
    /// <returns>How many decoder blocks now recompute in the backward pass.</returns>
    public static int Enable(nn.Module model) => Set(model, true);

    public static int Disable(nn.Module model) => Set(model, false);

    private static int Set(nn.Module model, bool on)
    {
        // Decoder blocks (children of a ModuleList), not the attention inside them: one checkpoint per layer.
        var blocks = model.modules().OfType<CachedBlock>().Where(b => b.children().OfType<CachedBlock>().Any()).ToArray();
        foreach (var block in blocks) block.Checkpointed = on;
        return blocks.Length;
    }
}
