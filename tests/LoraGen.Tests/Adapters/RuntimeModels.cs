using LoraGen.Adapters;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>The small [LoraModel] classifier the model-level tests share, with seeded inputs and adapters.</summary>
internal static class RuntimeModels
{
    public static RuntimeClassifier Classifier(long seed)
    {
        manual_seed(seed);
        return new RuntimeClassifier();
    }

    /// <summary>(4, 16) inputs.</summary>
    public static Tensor Probe(long seed)
    {
        manual_seed(seed);
        return randn(4, 16);
    }

    /// <summary>Random, non-zero A and B (and m) for <paramref name="adapter"/> on every layer that holds it.</summary>
    public static void Randomize(nn.Module model, string adapter, long seed)
    {
        foreach (var layer in ModelAdapters.Layers(model).Where(l => l.AdapterNames.Contains(adapter)))
            Layers.LayerFactory.Randomize(layer, adapter, seed++);
    }
}
