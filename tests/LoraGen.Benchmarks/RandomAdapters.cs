using LoraGen.Adapters;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>All-linear adapters whose B is random instead of zero, so that each one changes the model's output and costs real work.</summary>
internal static class RandomAdapters
{
    public static void Add(nn.Module model, string name, int rank = 8, double scale = 0.01)
    {
        foreach (var layer in ModelAdapters.Apply(model, new PeftLoraConfig { R = rank, LoraAlpha = 16, TargetModules = ModuleSelector.AllLinear }, name))
        {
            using var b = randn(layer.Adapter(name).B.weight.shape) * scale;
            layer.SetAdapterWeights(name, layer.Adapter(name).A.weight, b);
        }
    }

    /// <summary>Bytes of every adapter tensor in the model (A, B, DoRA magnitudes), all adapters together.</summary>
    public static long Bytes(nn.Module model) =>
        ModelAdapters.Layers(model).SelectMany(layer => layer.AdapterNames.Select(layer.Adapter))
            .SelectMany(adapter => adapter.A.parameters().Concat(adapter.B.parameters()).Concat(adapter.Magnitude?.parameters() ?? []))
            .Sum(p => p.NumberOfElements * p.ElementSize);
}
