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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Merging_into_a_4bit_base_reports_the_rounding_error_it_introduces(bool dora)
    {
        var (qlora, _) = Pair(dora);
        using (qlora)
        {
            manual_seed(64);
            using var x = randn(16, 128);
            using var unmerged = qlora.forward(x);
            qlora.Merge();
            var error = qlora.LastMergeError!;
            using var merged = qlora.forward(x);
            using var diff = (merged - unmerged).abs();
            output.WriteLine($"merge into NF4 (dora={dora}): weight error max {error.MaxAbs:E2}, rms {error.Rms:E2}, relative {error.RelativeRms:P2}; output max diff {diff.max().item<float>():E2}");
            Assert.True(error.MaxAbs > 0, "requantization is never exact for a random update");
            Assert.InRange(error.RelativeRms, 1e-4, 0.15);        // NF4's own error on a normal-ish weight is about 10%
            qlora.Unmerge();
            Assert.NotNull(qlora.LastMergeError);
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
