using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

public class LoraLinearAdapterSetTests
{
    private static LoraLinear TwoAdapters()
    {
        var layer = new LoraLinear(LayerFactory.Base(16, 12), new LoraConfig(4, 8), "fc");
        layer.AddAdapter("code", new LoraConfig(2, 6) { UseRsLora = true });
        LayerFactory.Randomize(layer, "default", seed: 20);
        LayerFactory.Randomize(layer, "code", seed: 21);
        return layer;
    }

    [Fact]
    public void A_new_adapter_is_inactive_until_chosen()
    {
        using var layer = TwoAdapters();
        Assert.Equal(["default"], layer.ActiveAdapters);
        manual_seed(22);
        using var x = randn(3, 16);
        using var expected = layer.BaseLayer.forward(x) + 2.0 * LayerFactory.LowRankTerm(layer.Adapter("default"), x);
        TensorAssert.Close(expected, layer.forward(x), 1e-5);
    }

    [Fact]
    public void Several_active_adapters_sum_their_contributions()
    {
        using var layer = TwoAdapters();
        layer.SetActiveAdapters("default", "code");
        manual_seed(23);
        using var x = randn(3, 16);
        using var expected = layer.BaseLayer.forward(x)
                             + 2.0 * LayerFactory.LowRankTerm(layer.Adapter("default"), x)
                             + 6.0 / Math.Sqrt(2) * LayerFactory.LowRankTerm(layer.Adapter("code"), x);
        TensorAssert.Close(expected, layer.forward(x), 1e-5);
    }

    [Fact]
    public void Disabling_gives_the_base_output_and_restores_a_merge_afterwards()
    {
        using var layer = TwoAdapters();
        manual_seed(24);
        using var x = randn(3, 16);
        using var adapted = layer.forward(x);
        using var original = layer.BaseLayer.weight.clone();
        layer.Merge();
        using (layer.DisableAdapters())
        {
            Assert.True(layer.AdaptersDisabled);
            TensorAssert.Close(original, layer.BaseLayer.weight, 1e-6);
            using var disabled = layer.forward(x);
            using var baseOut = nn.functional.linear(x, original, layer.BaseLayer.bias);
            TensorAssert.Close(baseOut, disabled, 1e-5);
        }
        Assert.False(layer.AdaptersDisabled);
        Assert.True(layer.IsMerged);
        TensorAssert.Close(adapted, layer.forward(x), 1e-5);
    }

    [Fact]
    public void Deleting_removes_the_parameters_and_is_refused_while_merged()
    {
        using var layer = TwoAdapters();
        layer.SetActiveAdapters("code");
        layer.Merge();
        var error = Assert.Throws<InvalidOperationException>(() => layer.DeleteAdapter("code"));
        Assert.Contains("'code' while it is merged", error.Message);

        layer.Unmerge();
        layer.DeleteAdapter("code");
        Assert.Equal(["default"], layer.AdapterNames);
        Assert.Empty(layer.ActiveAdapters);
        Assert.DoesNotContain(layer.named_parameters(), p => p.name.Contains(".code."));
        Assert.Throws<KeyNotFoundException>(() => layer.Adapter("code"));
    }

    [Fact]
    public void An_adapter_name_is_taken_once()
    {
        using var layer = TwoAdapters();
        var error = Assert.Throws<ArgumentException>(() => layer.AddAdapter("code", new LoraConfig(2, 2)));
        Assert.Contains("'fc' already has an adapter named 'code'", error.Message);
    }

    [Fact]
    public void Choosing_an_unknown_adapter_names_the_known_ones()
    {
        using var layer = TwoAdapters();
        var error = Assert.Throws<KeyNotFoundException>(() => layer.SetActiveAdapters("chat"));
        Assert.Contains("no adapter 'chat' (adapters: default, code)", error.Message);
    }

    /// <summary>The names of the parameters that train, in registration order.</summary>
    private static string[] Trainable(LoraLinear layer) =>
        layer.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToArray();

    [Fact]
    public void Only_the_active_adapters_train_as_with_peft_set_adapter()
    {
        using var layer = new LoraLinear(LayerFactory.Base(16, 12), new LoraConfig(4, 8), "fc");
        layer.AddAdapter("code", new LoraConfig(2, 6) { UseDora = true });
        Assert.Equal(["lora_A.default.weight", "lora_B.default.weight"], Trainable(layer));

        layer.SetActiveAdapters("code");
        Assert.Equal(["lora_A.code.weight", "lora_B.code.weight", "lora_magnitude_vector.code.weight"], Trainable(layer));

        layer.SetActiveAdapters("default", "code");
        Assert.Equal(5, Trainable(layer).Length);

        // A backward pass gives the inactive adapter no gradient, so an optimizer over every parameter leaves it.
        layer.SetActiveAdapters("default");
        using var x = randn(3, 16);
        using (var loss = layer.forward(x).sum()) loss.backward();
        Assert.Null(layer.Adapter("code").A.weight.grad);
        Assert.NotNull(layer.Adapter("default").B.weight.grad);
    }

    [Theory]
    [InlineData(LoraBias.All)]
    [InlineData(LoraBias.LoraOnly)]
    public void The_base_bias_trains_while_an_active_adapter_asks_for_it_and_is_frozen_again_after_deletion(LoraBias mode)
    {
        using var layer = new LoraLinear(LayerFactory.Base(16, 12), new LoraConfig(4, 8), "fc");
        Assert.False(layer.BaseBias!.requires_grad);
        layer.AddAdapter("biased", new LoraConfig(2, 4) { Bias = mode });
        Assert.False(layer.BaseBias.requires_grad);           // inactive: nothing of it trains yet

        layer.SetActiveAdapters("default", "biased");
        Assert.True(layer.BaseBias.requires_grad);
        layer.SetActiveAdapters("default");
        Assert.False(layer.BaseBias.requires_grad);

        layer.SetActiveAdapters("biased");
        layer.DeleteAdapter("biased");
        Assert.False(layer.BaseBias.requires_grad);
        Assert.False(layer.BaseLayer.weight.requires_grad);
    }
}
