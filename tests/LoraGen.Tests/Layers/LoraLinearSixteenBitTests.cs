using LoraGen.Layers;
using LoraGen.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

/// <summary>
/// 16-bit models as peft runs them: fp32 adapters on a bf16/fp16 base (dense or 4-bit), the input cast to the
/// adapter's dtype, the adapter's term added in fp32 and the sum rounded once to the base's dtype, merges
/// computed in fp32 and rounded once into the base.
/// </summary>
public class LoraLinearSixteenBitTests(ITestOutputHelper output)
{
    private const int In = 64, Out = 48;

    /// <summary>One rounding of a value of size 1 to the dtype: 2^-8 for bf16 (8 significant bits), 2^-11 for fp16.</summary>
    private static double Unit(ScalarType dtype) => dtype == ScalarType.BFloat16 ? 1.0 / 256 : 1.0 / 2048;

    /// <summary>A Linear whose weight and bias are in <paramref name="dtype"/>, from a seeded fp32 one.</summary>
    private static Linear Base16(ScalarType dtype, long seed = 80)
    {
        manual_seed(seed);
        var linear = nn.Linear(In, Out);
        linear.to(dtype);
        return linear;
    }

    private static LoraLinear Layer(ScalarType dtype, bool dora, bool fourBit, bool autocast = true)
    {
        var dense = Base16(dtype);
        nn.Module<Tensor, Tensor> baseLayer = dense;
        if (fourBit)
        {
            baseLayer = FourBitLinear.FromLinear(dense, name: "fc");
            dense.Dispose();
        }
        var layer = new LoraLinear(baseLayer, new LoraConfig(4, 8) { UseDora = dora, AutocastAdapterDtype = autocast }, "fc");
        LayerFactory.Randomize(layer, seed: 81);
        return layer;
    }

    /// <summary>(out, in) the base weight as the layer computes with it, in fp64.</summary>
    private static Tensor BaseWeight64(LoraLinear layer, ScalarType dtype) =>
        layer.QuantizedBase is { } q ? q.DequantizedWeight(dtype).to(float64) : layer.BaseLayer.weight.to(float64);

    /// <summary>
    /// The published forward in fp64, from the layer's own tensors: W·x + b + s·B·A·x, or for DoRA
    /// m / ‖W + s·B·A‖ ⊙ (W + s·B·A)·x + b.
    /// </summary>
    private static Tensor Reference(LoraLinear layer, ScalarType dtype, Tensor x)
    {
        using var scope = NewDisposeScope();
        var adapter = layer.Adapter("default");
        var w = BaseWeight64(layer, dtype);
        var delta = adapter.Scaling * adapter.B.weight.to(float64).matmul(adapter.A.weight.to(float64));
        var bias = layer.BaseBias!.to(float64);
        var x64 = x.to(float64);
        if (adapter.Magnitude is null)
            return (x64.matmul(w.t()) + x64.matmul(delta.t()) + bias).MoveToOuterDisposeScope();
        var combined = w + delta;
        var scale = adapter.Magnitude.weight.to(float64) / combined.pow(2).sum(1).sqrt();
        return (x64.matmul(combined.t()) * scale + bias).MoveToOuterDisposeScope();
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, true, ScalarType.Float32)]
    [InlineData(ScalarType.Float16, true, ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16, false, ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16, false, ScalarType.Float16)]
    [InlineData(ScalarType.Float32, true, ScalarType.Float32)]
    [InlineData(ScalarType.Float64, true, ScalarType.Float64)]
    public void Adapter_dtype_follows_peft_whatever_the_order_of_quantization_and_injection(ScalarType baseDtype, bool autocast, ScalarType expected)
    {
        var config = new LoraConfig(4, 8) { UseDora = true, AutocastAdapterDtype = autocast };
        using var dense = new LoraLinear(Base16(baseDtype), config, "fc");
        using var injectedFirst = new LoraLinear(Base16(baseDtype), config, "fc");
        injectedFirst.QuantizeBase();
        using var denseForQuantizing = Base16(baseDtype);
        using var quantizedFirst = new LoraLinear(FourBitLinear.FromLinear(denseForQuantizing, name: "fc"), config, "fc");
        foreach (var layer in new[] { dense, injectedFirst, quantizedFirst })
        {
            var adapter = layer.Adapter("default");
            Assert.Equal(expected, adapter.A.weight.dtype);
            Assert.Equal(expected, adapter.B.weight.dtype);
            Assert.Equal(expected, adapter.Magnitude!.weight.dtype);
            Assert.Equal(baseDtype, layer.Base.DType);
        }
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false, false)]
    [InlineData(ScalarType.BFloat16, true, false)]
    [InlineData(ScalarType.BFloat16, false, true)]
    [InlineData(ScalarType.BFloat16, true, true)]
    [InlineData(ScalarType.Float16, false, false)]
    [InlineData(ScalarType.Float16, true, false)]
    [InlineData(ScalarType.Float16, false, true)]
    public void Forward_on_a_16bit_base_matches_the_fp64_formula_within_16bit_rounding(ScalarType dtype, bool dora, bool fourBit)
    {
        using var layer = Layer(dtype, dora, fourBit);
        manual_seed(82);
        using var x = randn(6, In).to(dtype);
        using var actual = layer.forward(x);
        Assert.Equal(dtype, actual.dtype);
        using var expected = Reference(layer, dtype, x);
        // The base product is rounded to 16 bits once, then the sum once more: two roundings of the output's size,
        // plus the base product's accumulation over `In` 16-bit products.
        double size = expected.abs().max().item<double>();
        double tolerance = 4 * Unit(dtype) * size;
        using var diff = (actual.to(float64) - expected).abs().max();
        output.WriteLine($"{dtype} dora={dora} 4-bit={fourBit}: max |actual − fp64 formula| = {diff.item<double>():E3} (tolerance {tolerance:E3}, output size {size:F3})");
        TensorAssert.Close(expected, actual, tolerance);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false, false)]
    [InlineData(ScalarType.BFloat16, true, false)]
    [InlineData(ScalarType.BFloat16, false, true)]
    [InlineData(ScalarType.Float16, true, true)]
    public void One_AdamW_step_on_a_16bit_base_moves_the_fp32_adapters_and_nothing_else(ScalarType dtype, bool dora, bool fourBit)
    {
        using var layer = Layer(dtype, dora, fourBit);
        var frozen = layer.named_parameters().Where(p => !p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.clone());
        var trainable = layer.named_parameters().Where(p => p.parameter.requires_grad).ToArray();
        Assert.All(trainable, p => Assert.Equal(ScalarType.Float32, p.parameter.dtype));
        var before = trainable.ToDictionary(p => p.name, p => p.parameter.clone());

        using var optimizer = optim.AdamW(trainable.Select(p => p.parameter), lr: 1e-2);
        manual_seed(83);
        using var x = randn(8, In).to(dtype);
        using var target = randn(8, Out);
        using (var prediction = layer.forward(x))
        using (var loss = nn.functional.mse_loss(prediction.to(float32), target))
            loss.backward();
        Assert.All(trainable, p => Assert.Equal(ScalarType.Float32, p.parameter.grad!.dtype));
        optimizer.step();

        foreach (var (name, parameter) in trainable)
            Assert.True(parameter.ne(before[name]).any().item<bool>(), $"{name} did not move");
        foreach (var (name, parameter) in layer.named_parameters().Where(p => frozen.ContainsKey(p.name)))
            TensorAssert.BitwiseEqual(frozen[name], parameter);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false)]
    [InlineData(ScalarType.BFloat16, true)]
    [InlineData(ScalarType.Float16, false)]
    public void Merging_into_a_16bit_base_computes_in_fp32_and_rounds_once(ScalarType dtype, bool dora)
    {
        using var layer = Layer(dtype, dora, fourBit: false);
        var adapter = layer.Adapter("default");
        using var original = layer.BaseLayer.weight.clone();
        // Independently: W in fp32, plus s·B·A in fp32 (DoRA: rescaled per row to m), one rounding to 16 bits.
        using var w = original.to(float32);
        using var delta = adapter.B.weight.matmul(adapter.A.weight).mul(adapter.Scaling);
        using var combined = w + delta;
        using var rescaled = adapter.Magnitude is null ? combined.clone() : combined * (adapter.Magnitude.weight / combined.pow(2).sum(1).sqrt()).unsqueeze(1);
        using var expected = rescaled.to(dtype);

        manual_seed(84);
        using var x = randn(6, In).to(dtype);
        using var unmerged = layer.forward(x);
        layer.Merge();
        Assert.Equal(dtype, layer.BaseLayer.weight.dtype);
        using var ulp = (expected.to(float64) - layer.BaseLayer.weight.to(float64)).abs().max();
        output.WriteLine($"{dtype} dora={dora}: merged weight vs one rounding of the fp32 merge: max |diff| = {ulp.item<double>():E3}");
        TensorAssert.BitwiseEqual(expected, layer.BaseLayer.weight);

        using var merged = layer.forward(x);
        double size = unmerged.to(float64).abs().max().item<double>();
        TensorAssert.Close(unmerged, merged, 4 * Unit(dtype) * size);
        layer.Unmerge();
        // Back to W up to the merge's rounding, of the size of W + s·B·A (which the update dominates here; DoRA's
        // unmerge divides its rescaling out again), and one more rounding of W.
        double roundings = Unit(dtype) * (combined.abs().max().item<float>() + original.to(float64).abs().max().item<double>());
        TensorAssert.Close(original, layer.BaseLayer.weight, roundings);
    }
}
