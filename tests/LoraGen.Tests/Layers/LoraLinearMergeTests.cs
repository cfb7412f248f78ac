using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

public class LoraLinearMergeTests
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Merged_output_equals_unmerged_and_unmerge_restores_W(bool dora, bool safe)
    {
        using var layer = new LoraLinear(LayerFactory.Base(64, 48), new LoraConfig(8, 16) { UseDora = dora }, "fc");
        LayerFactory.Randomize(layer);
        manual_seed(9);
        using var x = randn(10, 64);
        using var original = layer.BaseLayer.weight.clone();
        using var unmerged = layer.forward(x);

        layer.Merge(safe: safe);
        Assert.True(layer.IsMerged);
        Assert.Equal(["default"], layer.MergedAdapters);
        using var merged = layer.forward(x);
        using var baseOnly = layer.BaseLayer.forward(x);
        TensorAssert.Close(unmerged, merged, 1e-5);
        TensorAssert.BitwiseEqual(baseOnly, merged);      // merged: the base path alone

        layer.Unmerge();
        Assert.False(layer.IsMerged);
        TensorAssert.Close(original, layer.BaseLayer.weight, 1e-6);
        using var again = layer.forward(x);
        TensorAssert.Close(unmerged, again, 1e-5);
    }

    [Fact]
    public void Merge_adds_exactly_scaling_B_A_to_W()
    {
        using var layer = new LoraLinear(LayerFactory.Base(20, 12, dtype: ScalarType.Float64), new LoraConfig(3, 9), "fc");
        LayerFactory.Randomize(layer);
        var adapter = layer.Adapter("default");
        using var expected = layer.BaseLayer.weight + 3.0 * adapter.B.weight.matmul(adapter.A.weight);
        layer.Merge();
        TensorAssert.Close(expected, layer.BaseLayer.weight, 1e-12);
    }

    [Fact]
    public void Dora_merge_rescales_each_row_to_its_magnitude()
    {
        using var layer = new LoraLinear(LayerFactory.Base(20, 12, dtype: ScalarType.Float64), new LoraConfig(3, 9) { UseDora = true }, "fc");
        LayerFactory.Randomize(layer);
        layer.Merge();
        using var rowNorms = layer.BaseLayer.weight.pow(2).sum(1).sqrt();
        TensorAssert.Close(layer.Adapter("default").Magnitude!.weight, rowNorms, 1e-12);   // ‖W'_j‖ = m_j
    }

    [Fact]
    public void Safe_merge_refuses_an_adapter_holding_NaN_and_leaves_W_untouched()
    {
        using var layer = new LoraLinear(LayerFactory.Base(16, 8), new LoraConfig(2, 4), "blocks.3.fc");
        LayerFactory.Randomize(layer);
        using (no_grad()) layer.Adapter("default").A.weight[0, 0] = float.NaN;
        using var before = layer.BaseLayer.weight.clone();

        var error = Assert.Throws<InvalidOperationException>(() => layer.Merge(safe: true));
        Assert.Contains("blocks.3.fc", error.Message);
        Assert.Contains("non-finite", error.Message);
        Assert.False(layer.IsMerged);
        TensorAssert.BitwiseEqual(before, layer.BaseLayer.weight);
    }

    [Fact]
    public void Merging_twice_is_refused_with_the_layer_name()
    {
        using var layer = new LoraLinear(LayerFactory.Base(8, 8), new LoraConfig(2, 4), "mlp.up_proj");
        layer.Merge();
        var error = Assert.Throws<InvalidOperationException>(() => layer.Merge());
        Assert.Contains("mlp.up_proj", error.Message);
        Assert.Contains("'default' is already merged", error.Message);
    }

    [Fact]
    public void Unmerging_an_unmerged_layer_is_refused()
    {
        using var layer = new LoraLinear(LayerFactory.Base(8, 8), new LoraConfig(2, 4), "fc");
        var error = Assert.Throws<InvalidOperationException>(() => layer.Unmerge());
        Assert.Contains("'fc'", error.Message);
    }

    [Fact]
    public void Two_merged_adapters_unmerge_in_reverse_order_back_to_W()
    {
        using var layer = new LoraLinear(LayerFactory.Base(24, 16), new LoraConfig(4, 8) { UseDora = true }, "fc");
        layer.AddAdapter("second", new LoraConfig(2, 2));
        LayerFactory.Randomize(layer, "default", seed: 10);
        LayerFactory.Randomize(layer, "second", seed: 11);
        layer.SetActiveAdapters("default", "second");
        using var original = layer.BaseLayer.weight.clone();
        layer.Merge();
        layer.Unmerge();
        TensorAssert.Close(original, layer.BaseLayer.weight, 1e-5);
    }
}
