using LoraGen.Layers;
using LoraGen.Planning;
using LoraGen.Quantization;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraGen.Tests.Quantization;

public class QLoraLinearTests(ITestOutputHelper output)
{
    /// <summary>A QLoRA layer and a plain LoRA layer over the dequantized weight, with the same adapter tensors.</summary>
    private static (LoraLinear QLora, LoraLinear Reference) Pair(bool dora = false)
    {
        manual_seed(60);
        using var dense = nn.Linear(128, 96);
        var quantized = FourBitLinear.FromLinear(dense, name: "q_proj");
        var qlora = new LoraLinear(quantized, new LoraConfig(8, 16) { UseDora = dora }, "q_proj");

        var reference = nn.Linear(128, 96);
        using (no_grad())
        {
            using var dequantized = quantized.DequantizedWeight();
            reference.weight.copy_(dequantized);
            reference.bias!.copy_(quantized.Bias!);
        }
        var lora = new LoraLinear(reference, new LoraConfig(8, 16) { UseDora = dora }, "q_proj");
        Layers.LayerFactory.Randomize(qlora, seed: 61);
        Layers.LayerFactory.Randomize(lora, seed: 61);
        return (qlora, lora);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void QLoRA_forward_equals_LoRA_over_the_dequantized_weight(bool dora)
    {
        var (qlora, lora) = Pair(dora);
        using (qlora)
        using (lora)
        {
            manual_seed(62);
            using var x = randn(10, 128);
            using var expected = lora.forward(x);
            using var actual = qlora.forward(x);
            TensorAssert.Close(expected, actual, 2e-5);
        }
    }

    [Fact]
    public void Only_A_and_B_get_gradients_and_the_input_gradient_uses_the_dequantized_weight()
    {
        var (qlora, lora) = Pair();
        using (qlora)
        using (lora)
        {
            manual_seed(63);
            using var x = randn(6, 128, requires_grad: true);
            using var g = randn(6, 96);
            using (var loss = (qlora.forward(x) * g).sum()) loss.backward();

            Assert.Equal(["lora_A.default.weight", "lora_B.default.weight"],
                qlora.named_parameters().Where(p => p.parameter.grad is not null).Select(p => p.name));
            // ∂x = G·(W + s·B·A), with W the dequantized base.
            var adapter = qlora.Adapter("default");
            using var dequantized = qlora.QuantizedBase!.DequantizedWeight();
            using var expected = g.matmul(dequantized + 2.0 * adapter.B.weight.matmul(adapter.A.weight));
            TensorAssert.Close(expected, x.grad!, 1e-4);
            // The same adapter gradients as LoRA over the dequantized weight.
            using (var loss = (lora.forward(x.detach()) * g).sum()) loss.backward();
            TensorAssert.Close(lora.Adapter("default").A.weight.grad!, adapter.A.weight.grad!, 1e-4);
        }
    }

    [Fact]
    public void A_4bit_parameter_counts_as_two_per_byte()
    {
        using var dense = nn.Linear(64, 32);
        using var quantized = FourBitLinear.FromLinear(dense);
        Assert.Equal(new ParameterSummary(0, 64 * 32 + 32), ParameterSummary.Of(quantized));
    }

    /// <summary>Every tensor of the 4-bit state: packed codes and absmax (or its 8-bit codes, scales and offset).</summary>
    private static Tensor[] Codes(LoraLinear layer)
    {
        var weight = layer.QuantizedBase!.Weight;
        return new[] { weight.Packed, weight.Absmax, weight.AbsmaxCodes, weight.AbsmaxScales, weight.AbsmaxOffset }
            .Where(t => t is not null).Select(t => t!.clone()).ToArray();
    }

    private static void AssertSameCodes(Tensor[] expected, LoraLinear layer)
    {
        var actual = Codes(layer);
        Assert.Equal(expected.Length, actual.Length);
        foreach (var (e, a) in expected.Zip(actual)) TensorAssert.BitwiseEqual(e, a);
    }

    /// <summary>
    /// The merge stores NF4(W + ΔW), with W the dequantized base and ΔW = s·B·A computed here. NF4 rounds each
    /// value to the nearest of its 16 levels times the block's absmax, so no element may be further from
    /// W + ΔW than half the widest gap between levels times that absmax, plus the 8-bit error of the absmax
    /// itself. A merge that added ΔW twice, or to the wrong rows, breaks that bound by far: ΔW here is
    /// several times W. The outputs then differ by exactly x·Eᵀ, E the rounding measured here.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_merge_into_a_4bit_base_stores_W_plus_the_update_within_the_NF4_rounding_bound(bool dora)
    {
        var (qlora, _) = Pair(dora);
        using (qlora)
        {
            manual_seed(64);
            using var x = randn(16, 128, dtype: float64);
            using var scope = NewDisposeScope();
            var adapter = qlora.Adapter("default");
            var w = qlora.QuantizedBase!.DequantizedWeight().to(float64);                                // (96, 128)
            var target = w + adapter.Scaling * adapter.B.weight.to(float64).matmul(adapter.A.weight.to(float64));
            if (dora)
                target = target * (adapter.Magnitude!.weight.to(float64) / target.pow(2).sum(1).sqrt()).unsqueeze(1);
            var unmerged = qlora.forward(x.to(float32)).to(float64);
            qlora.Merge();

            var merged = qlora.QuantizedBase!.DequantizedWeight().to(float64);
            var rounding = merged - target;                                                              // E
            var levels = FourBitCodebook.Nf4.Order().ToArray();
            double halfGap = levels.Zip(levels.Skip(1)).Max(p => p.Second - p.First) / 2;                 // 0.1385 for NF4
            var absmax = target.reshape(-1, 64).abs().amax([1]);                                          // per block of 64
            double absmaxStep = (absmax.max() - absmax.min()).item<double>() / 127;                       // the 8-bit absmax error
            var bound = (absmax * halfGap + absmaxStep).unsqueeze(1).expand(-1, 64).reshape(96, 128);
            double worst = (rounding.abs() - bound).max().item<double>();
            Assert.True(worst <= 1e-6, $"an element is {worst:E2} beyond the NF4 rounding bound");
            Assert.True(rounding.abs().max().item<double>() < 0.5 * (target - w).abs().max().item<double>(),
                "the rounding must be small against the update itself");

            var outputs = qlora.forward(x.to(float32)).to(float64);
            TensorAssert.Close(unmerged + x.matmul(rounding.t()), outputs, 2e-4);
            var report = qlora.LastMergeError!;
            output.WriteLine($"merge into NF4 (dora={dora}): max |E| {rounding.abs().max().item<double>():E3}, bound {bound.max().item<double>():E3}; reported max {report.MaxAbs:E3}, relative rms {report.RelativeRms:P2}");
            Assert.Equal(rounding.abs().max().item<double>(), report.MaxAbs, 1e-5);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Unmerging_a_4bit_base_restores_its_codes_bit_for_bit(bool dora)
    {
        var (qlora, _) = Pair(dora);
        using (qlora)
        {
            var original = Codes(qlora);
            qlora.AddAdapter("second", new LoraConfig(4, 8));
            Layers.LayerFactory.Randomize(qlora, "second", seed: 66);
            qlora.Merge();
            qlora.Merge(["second"]);
            Assert.False(Codes(qlora)[0].eq(original[0]).all().item<bool>(), "the merge must change the codes");
            qlora.Unmerge();
            AssertSameCodes(original, qlora);
            Assert.Empty(qlora.MergedAdapters);
        }
    }

    [Fact]
    public void A_merged_4bit_layer_changed_with_Module_to_still_unmerges_to_its_original_codes()
    {
        var (qlora, _) = Pair();
        using (qlora)
        {
            var original = Codes(qlora);
            qlora.Merge();
            qlora.to(ScalarType.Float64);                                          // the kept codes travel with the layer
            Assert.Equal(ScalarType.Float64, qlora.Base.DType);
            qlora.Unmerge();
            AssertSameCodes(original, qlora);
        }
    }

    [Fact]
    public void Disabling_a_merged_4bit_layer_computes_the_base_and_leaves_the_merged_codes_as_they_were()
    {
        var (qlora, _) = Pair();
        using (qlora)
        {
            manual_seed(67);
            using var x = randn(5, 128);
            var original = Codes(qlora);
            using var baseOnly = qlora.QuantizedBase!.forward(x);
            qlora.Merge();
            var merged = Codes(qlora);
            using (qlora.DisableAdapters())
            {
                AssertSameCodes(original, qlora);
                using var disabled = qlora.forward(x);
                TensorAssert.BitwiseEqual(baseOnly, disabled);
                Assert.Throws<InvalidOperationException>(() => qlora.Unmerge());
            }
            AssertSameCodes(merged, qlora);
            Assert.Equal(["default"], qlora.MergedAdapters);
        }
    }

    /// <summary>
    /// The backward of a forward pass must use the codes that forward used, even when a merge or unmerge
    /// replaced (and freed) the layer's weight in between.
    /// </summary>
    [Fact]
    public void A_backward_after_the_weight_was_replaced_uses_the_weight_of_its_forward()
    {
        var (qlora, _) = Pair();
        using (qlora)
        {
            qlora.Merge();
            using var mergedWeight = qlora.QuantizedBase!.DequantizedWeight();    // (96, 128) what the forward below uses
            manual_seed(68);
            using var x = randn(4, 128, requires_grad: true);
            using var g = randn(4, 96);
            using var y = qlora.forward(x);                                        // merged: the base alone
            qlora.Unmerge();                                                       // frees the merged codes
            GC.Collect();
            GC.WaitForPendingFinalizers();
            using var churn = randn(1 << 20);                                      // reuse freed memory, if any
            using (var loss = (y * g).sum()) loss.backward();
            using var expected = g.matmul(mergedWeight);
            TensorAssert.Close(expected, x.grad!, 1e-4);
        }
    }

    [Fact]
    public void QuantizeBase_keeps_the_adapters_and_refuses_while_merged()
    {
        manual_seed(65);
        using var layer = new LoraLinear(nn.Linear(64, 64), new LoraConfig(4, 8), "fc");
        Layers.LayerFactory.Randomize(layer);
        layer.Merge();
        Assert.Throws<InvalidOperationException>(() => layer.QuantizeBase());
        layer.Unmerge();
        using var a = layer.Adapter("default").A.weight.clone();
        layer.QuantizeBase();
        Assert.NotNull(layer.QuantizedBase);
        TensorAssert.BitwiseEqual(a, layer.Adapter("default").A.weight);
        Assert.Throws<InvalidOperationException>(() => layer.BaseLayer);
        Assert.Contains(layer.named_parameters(), p => p.name == "base_layer.weight" && p.parameter.dtype == ScalarType.Byte);
    }
}
