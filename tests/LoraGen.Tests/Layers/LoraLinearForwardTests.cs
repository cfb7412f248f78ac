using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

public class LoraLinearForwardTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void At_init_the_output_equals_the_base_output_exactly(bool dora)
    {
        using var layer = new LoraLinear(LayerFactory.Base(32, 24), new LoraConfig(8, 16) { UseDora = dora }, "fc");
        manual_seed(3);
        using var x = randn(5, 32);
        using var expected = layer.BaseLayer.forward(x);
        using var actual = layer.forward(x);
        TensorAssert.BitwiseEqual(expected, actual);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(8, false)]
    [InlineData(64, false)]
    [InlineData(1, true)]
    [InlineData(8, true)]
    [InlineData(64, true)]
    public void Forward_equals_W_x_plus_b_plus_scaled_B_A_x(int r, bool rsLora)
    {
        const double alpha = 16;
        using var layer = new LoraLinear(LayerFactory.Base(96, 80), new LoraConfig(r, alpha) { UseRsLora = rsLora }, "fc");
        LayerFactory.Randomize(layer);
        manual_seed(4);
        using var x = randn(7, 96);

        double scaling = rsLora ? alpha / Math.Sqrt(r) : alpha / r;
        var w = layer.BaseLayer.weight;
        var b = layer.BaseLayer.bias!;
        using var expected = x.matmul(w.t()) + b + scaling * LayerFactory.LowRankTerm(layer.Adapter("default"), x);
        using var actual = layer.forward(x);
        TensorAssert.Close(expected, actual, 1e-4);
        Assert.Equal(scaling, layer.Adapter("default").Scaling, 12);
    }

    [Fact]
    public void Dora_forward_equals_magnitude_times_normalised_direction()
    {
        using var layer = new LoraLinear(LayerFactory.Base(40, 30), new LoraConfig(4, 8) { UseDora = true }, "fc");
        LayerFactory.Randomize(layer);
        manual_seed(5);
        using var x = randn(6, 40);

        var adapter = layer.Adapter("default");
        var w = layer.BaseLayer.weight;
        using var v = w + 2.0 * adapter.B.weight.matmul(adapter.A.weight);          // W + (8/4)·B·A
        using var norms = v.pow(2).sum(1).sqrt();                                    // (out,)
        using var direction = v / norms.unsqueeze(1);
        using var expected = x.matmul(direction.t()) * adapter.Magnitude!.weight + layer.BaseLayer.bias!;
        using var actual = layer.forward(x);
        TensorAssert.Close(expected, actual, 1e-5);
    }

    [Fact]
    public void Dropout_touches_only_the_adapter_path()
    {
        using var layer = new LoraLinear(LayerFactory.Base(16, 16), new LoraConfig(4, 4) { Dropout = 0.9 }, "fc");
        layer.train();
        manual_seed(6);
        using var x = randn(8, 16);
        // B = 0 at init: if dropout reached the base path the output would change.
        using var expected = layer.BaseLayer.forward(x);
        using var actual = layer.forward(x);
        TensorAssert.BitwiseEqual(expected, actual);

        // With a live adapter, training mode drops some of the adapter's input and eval mode none.
        LayerFactory.Randomize(layer);
        using var trainOut = layer.forward(x);
        layer.eval();
        using var evalOut = layer.forward(x);
        using var formula = layer.BaseLayer.forward(x) + LayerFactory.LowRankTerm(layer.Adapter("default"), x);
        TensorAssert.Close(formula, evalOut, 1e-5);
        Assert.False(trainOut.allclose(evalOut));
    }

    [Fact]
    public void Kaiming_uniform_init_stays_within_the_bound_for_a_equal_sqrt5()
    {
        manual_seed(7);
        using var layer = new LoraLinear(LayerFactory.Base(1024, 8), new LoraConfig(64, 64), "fc");
        var a = layer.Adapter("default").A.weight;
        // gain = √(2 / (1 + a²)) = √(1/3); bound = gain·√(3 / fan_in) = 1/√fan_in.
        double bound = 1 / Math.Sqrt(1024);
        Assert.True(a.abs().max().item<float>() <= bound);
        Assert.InRange(a.std().item<float>(), 0.97 * bound / Math.Sqrt(3), 1.03 * bound / Math.Sqrt(3));   // uniform: σ = bound/√3
        Assert.Equal(0, layer.Adapter("default").B.weight.count_nonzero().item<long>());
    }

    [Fact]
    public void Gaussian_init_has_standard_deviation_one_over_r()
    {
        manual_seed(8);
        using var layer = new LoraLinear(LayerFactory.Base(2048, 8), new LoraConfig(16, 16) { Init = LoraInit.Gaussian }, "fc");
        var a = layer.Adapter("default").A.weight;
        Assert.InRange(a.std().item<float>(), 0.97 / 16, 1.03 / 16);
        Assert.InRange(a.mean().item<float>(), -0.003, 0.003);
        Assert.Equal(0, layer.Adapter("default").B.weight.count_nonzero().item<long>());
    }

    [Fact]
    public void Adapters_follow_the_base_dtype()
    {
        using var layer = new LoraLinear(LayerFactory.Base(8, 8, dtype: ScalarType.Float64), new LoraConfig(2, 2) { UseDora = true }, "fc");
        var adapter = layer.Adapter("default");
        Assert.Equal(ScalarType.Float64, adapter.A.weight.dtype);
        Assert.Equal(ScalarType.Float64, adapter.B.weight.dtype);
        Assert.Equal(ScalarType.Float64, adapter.Magnitude!.weight.dtype);
    }

    [Fact]
    public void Parameter_names_follow_peft()
    {
        using var layer = new LoraLinear(LayerFactory.Base(8, 4), new LoraConfig(2, 2) { UseDora = true }, "q_proj");
        var names = layer.named_parameters().Select(p => p.name).ToArray();
        Assert.Equal(new[]
        {
            "base_layer.weight", "base_layer.bias", "lora_A.default.weight", "lora_B.default.weight",
            "lora_magnitude_vector.default.weight",
        }, names);
    }
}
