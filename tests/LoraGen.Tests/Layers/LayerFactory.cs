using LoraGen.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

/// <summary>Small deterministic layers for the tests.</summary>
internal static class LayerFactory
{
    public static Linear Base(long inFeatures, long outFeatures, bool bias = true, ScalarType dtype = ScalarType.Float32, long seed = 1)
    {
        manual_seed(seed);
        return nn.Linear(inFeatures, outFeatures, hasBias: bias, dtype: dtype);
    }

    /// <summary>Gives the adapter random, non-zero A and B (and magnitude for DoRA), so it changes the output.</summary>
    public static void Randomize(LoraLinear layer, string adapterName = "default", long seed = 2)
    {
        manual_seed(seed);
        var adapter = layer.Adapter(adapterName);
        var dtype = adapter.A.weight.dtype;
        using var a = randn(adapter.A.weight.shape, dtype: dtype) * 0.3;
        using var b = randn(adapter.B.weight.shape, dtype: dtype) * 0.3;
        using var m = adapter.Magnitude is null ? null : rand(layer.OutFeatures, dtype: dtype) + 0.5;
        layer.SetAdapterWeights(adapterName, a, b, m);
    }

    /// <summary>Independent reference: (x·Aᵀ)·Bᵀ, shape (n, out).</summary>
    public static Tensor LowRankTerm(LoraAdapter adapter, Tensor x) =>
        x.matmul(adapter.A.weight.t()).matmul(adapter.B.weight.t());
}
