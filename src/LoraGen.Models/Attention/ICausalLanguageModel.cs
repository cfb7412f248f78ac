using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>A decoder that can continue a sequence from a key/value cache: what generation needs.</summary>
public interface ICausalLanguageModel
{
    int LayerCount { get; }

    /// <param name="ids">(batch, new) the tokens after those in <paramref name="cache"/></param>
    /// <returns>(batch, new, vocab) logits</returns>
    Tensor Forward(Tensor ids, KvCache? cache);
}
