using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

public class LoraLinearBadInputTests
{
    [Theory]
    [InlineData(0, 16, 0.0, "r must be at least 1; got 0")]
    [InlineData(-3, 16, 0.0, "r must be at least 1; got -3")]
    [InlineData(8, 0, 0.0, "alpha must be a positive finite number; got 0")]
    [InlineData(8, -1, 0.0, "alpha must be a positive finite number; got -1")]
    [InlineData(8, double.NaN, 0.0, "alpha must be a positive finite number; got NaN")]
    [InlineData(8, 16, 1.0, "dropout must be in [0, 1); got 1")]
    [InlineData(8, 16, -0.1, "dropout must be in [0, 1); got -0.1")]
    public void Invalid_settings_name_the_layer_and_the_value(int r, double alpha, double dropout, string message)
    {
        using var linear = LayerFactory.Base(8, 8);
        var error = Assert.Throws<ArgumentException>(() => new LoraLinear(linear, new LoraConfig(r, alpha) { Dropout = dropout }, "layers.2.mlp.down_proj"));
        Assert.Contains("LoraLinear 'layers.2.mlp.down_proj'", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Wrapping_something_other_than_a_Linear_is_refused()
    {
        using var relu = nn.ReLU();
        var error = Assert.Throws<ArgumentException>(() => new LoraLinear(relu, new LoraConfig(4, 8), "act"));
        Assert.Contains("LoraLinear 'act' can only wrap a Linear (or FourBitLinear) layer; got ReLU", error.Message);
    }

    [Theory]
    [InlineData(4, 9, 6, 4, "lora_A must have shape [4, 8] (r x in_features); got [4, 9]")]
    [InlineData(4, 8, 6, 5, "lora_B must have shape [6, 4] (out_features x r); got [6, 5]")]
    public void An_adapter_tensor_of_the_wrong_shape_is_refused_and_nothing_changes(long aRows, long aCols, long bRows, long bCols, string message)
    {
        using var layer = new LoraLinear(LayerFactory.Base(8, 6), new LoraConfig(4, 8), "q_proj");
        using var before = layer.Adapter("default").A.weight.clone();
        using var a = ones(aRows, aCols);
        using var b = ones(bRows, bCols);
        var error = Assert.Throws<ArgumentException>(() => layer.SetAdapterWeights("default", a, b));
        Assert.Contains("'q_proj'", error.Message);
        Assert.Contains(message, error.Message);
        TensorAssert.BitwiseEqual(before, layer.Adapter("default").A.weight);
    }

    [Fact]
    public void A_DoRA_adapter_needs_its_magnitude_vector()
    {
        using var layer = new LoraLinear(LayerFactory.Base(8, 6), new LoraConfig(4, 8) { UseDora = true }, "v_proj");
        using var a = ones(4, 8);
        using var b = ones(6, 4);
        var missing = Assert.Throws<ArgumentException>(() => layer.SetAdapterWeights("default", a, b));
        Assert.Contains("needs its lora_magnitude_vector", missing.Message);
        using var m = ones(5);
        var wrong = Assert.Throws<ArgumentException>(() => layer.SetAdapterWeights("default", a, b, m));
        Assert.Contains("lora_magnitude_vector must have shape [6] (out_features); got [5]", wrong.Message);
    }
}
