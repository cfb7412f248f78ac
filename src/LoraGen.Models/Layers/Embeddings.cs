using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Layers;

/// <summary>
/// Embedding tables that cost nothing on the meta device. TorchSharp's Embedding constructor initialises its weight
/// on the CPU before moving it to the device asked for, so on meta a 32k × 2048 table still took 262 MB of host
/// memory (and a random fill) until the GC finalised it, and Embedding_from_pretrained does the same. A one-row
/// table given a full-size empty meta weight takes none.
/// </summary>
internal static class Embeddings
{
    /// <returns>An Embedding whose weight is (count, dimension) and trains.</returns>
    public static Embedding Create(long count, long dimension, Device? device)
    {
        if (device?.type != DeviceType.META) return nn.Embedding(count, dimension, device: device);
        var embedding = nn.Embedding(1, dimension, device: device);
        embedding.weight = new Parameter(empty([count, dimension], device: device));
        return embedding;
    }
}
