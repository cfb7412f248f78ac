using TorchSharp;
using LoraGen.Adapters;
using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>peft's add_weighted_adapter, each combination against its closed form, in fp64 for exactness.</summary>
public class WeightedAdapterTests
{
    /// <summary>Adapters a (r 4, alpha 8) and c (r 4, alpha 2) on fc, b (r 2, alpha 6) on fc and gate; random A and B.</summary>
    private static RuntimeClassifier Build()
    {
        manual_seed(13);
        var model = new RuntimeClassifier();
        model.to(float64);
        model.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.Names("fc") }, "a");
        model.ApplyLora(new PeftLoraConfig { R = 2, LoraAlpha = 6, TargetModules = ModuleSelector.Names("fc", "gate") }, "b");
        model.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 2, TargetModules = ModuleSelector.Names("fc") }, "c");
        long seed = 14;
        foreach (var layer in ModelAdapters.Layers(model))
            foreach (var name in layer.AdapterNames)
                Layers.LayerFactory.Randomize(layer, name, seed++);
        return model;
    }

    /// <summary>s·B·A of one adapter of one layer, (out, in).</summary>
    private static Tensor Delta(LoraLinear layer, string adapter) =>
        layer.Adapter(adapter).B.weight.matmul(layer.Adapter(adapter).A.weight) * layer.Adapter(adapter).Scaling;

    [Fact]
    public void Cat_concatenates_ranks_so_that_the_new_update_is_exactly_the_weighted_sum()
    {
        using var model = Build();
        model.AddWeightedAdapter(["a", "b"], [0.7, -1.3], "mix", AdapterCombination.Cat);
        foreach (var layer in ModelAdapters.Layers(model))
        {
            var mix = layer.Adapter("mix");
            bool hasA = layer.AdapterNames.Contains("a");
            Assert.Equal(hasA ? 6 : 2, mix.Config.R);                          // 4 + 2 where both are, 2 on gate
            Assert.Equal(1.0, mix.Scaling);
            using var expected = hasA ? Delta(layer, "a") * 0.7 + Delta(layer, "b") * -1.3 : Delta(layer, "b") * -1.3;
            using var actual = Delta(layer, "mix");
            TensorAssert.Close(expected, actual, 1e-12);
        }
        Assert.DoesNotContain("mix", model.ActiveAdapters);
    }

    [Fact]
    public void Svd_truncates_the_weighted_sum_to_its_best_approximation_of_the_chosen_rank()
    {
        using var model = Build();
        model.AddWeightedAdapter(["a", "b"], [1.0, 0.5], "svd", AdapterCombination.Svd, svdRank: 3);
        foreach (var layer in ModelAdapters.Layers(model).Where(l => l.AdapterNames.Contains("a")))
        {
            using var target = Delta(layer, "a") + Delta(layer, "b") * 0.5;                 // rank ≤ 6
            using var approximation = Delta(layer, "svd");
            double error = (target - approximation).pow(2).sum().sqrt().item<double>();
            // Eckart–Young: the best rank-3 error is the root of the sum of the other squared singular values,
            // here the eigenvalues of TᵀT beyond the three largest.
            using var eigenvalues = linalg.eigvalsh(target.t().matmul(target));                // ascending
            double best = Math.Sqrt(eigenvalues.narrow(0, 0, eigenvalues.shape[0] - 3).clamp_min(0).sum().item<double>());
            Assert.Equal(3, layer.Adapter("svd").Config.R);
            Assert.True(best > 1e-3, "the test needs a sum of rank above 3");
            Assert.Equal(best, error, best * 1e-6);
        }
    }

    [Fact]
    public void Linear_combines_A_and_B_with_the_signed_square_roots_of_weight_times_scaling()
    {
        using var model = Build();
        model.AddWeightedAdapter(["a", "c"], [2.0, -0.5], "lin", AdapterCombination.Linear);
        var layer = ModelAdapters.Layers(model).First(l => l.AdapterNames.Contains("c"));
        double wa = 2.0 * (8.0 / 4), wc = -0.5 * (2.0 / 4);                                  // w·s
        using var a = layer.Adapter("a").A.weight * Math.Sqrt(wa) - layer.Adapter("c").A.weight * Math.Sqrt(-wc);
        using var b = layer.Adapter("a").B.weight * Math.Sqrt(wa) + layer.Adapter("c").B.weight * Math.Sqrt(-wc);
        TensorAssert.Close(a, layer.Adapter("lin").A.weight, 1e-12);
        TensorAssert.Close(b, layer.Adapter("lin").B.weight, 1e-12);
    }

    [Fact]
    public void Linear_refuses_different_ranks_and_every_combination_refuses_DoRA()
    {
        using var model = Build();
        var ranks = Assert.Throws<ArgumentException>(() => model.AddWeightedAdapter(["a", "b"], [1, 1], "x", AdapterCombination.Linear));
        Assert.Contains("linear combination needs equal ranks", ranks.Message);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc"), UseDora = true }, "d");
        var dora = Assert.Throws<ArgumentException>(() => model.AddWeightedAdapter(["a", "d"], [1, 1], "x", AdapterCombination.Cat));
        Assert.Contains("adapter 'd' uses DoRA", dora.Message);
        Assert.DoesNotContain("x", ModelAdapters.AdapterNames(model));
    }
}
