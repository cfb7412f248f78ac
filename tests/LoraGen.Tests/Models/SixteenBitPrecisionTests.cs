using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>16-bit models compute as transformers does: RMSNorm and the attention softmax in fp32, rounded once.</summary>
public class SixteenBitPrecisionTests
{
    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void RmsNorm_normalises_in_fp32_and_rounds_before_the_weight(ScalarType dtype)
    {
        using var norm = new RmsNorm(64, 1e-6);
        norm.to(dtype);
        manual_seed(120);
        using (no_grad()) norm.named_parameters().Single().parameter.copy_(rand(64) + 0.5);
        using var x = (randn(3, 64) * 30).to(dtype);
        using var actual = norm.forward(x);
        // transformers' LlamaRMSNorm: weight * (x.float() * rsqrt(mean(x.float()²) + eps)).to(input dtype)
        using var wide = x.to(float32);
        using var normalized = wide * (wide.pow(2).mean([-1], keepdim: true) + 1e-6).rsqrt();
        using var expected = norm.named_parameters().Single().parameter * normalized.to(dtype);
        Assert.Equal(dtype, actual.dtype);
        TensorAssert.BitwiseEqual(expected, actual);
    }

    [Fact]
    public void The_attention_softmax_is_taken_in_fp32_for_a_bf16_model()
    {
        manual_seed(121);
        using var q = randn(1, 2, 4, 8).to(ScalarType.BFloat16);
        using var k = randn(1, 2, 4, 8).to(ScalarType.BFloat16);
        using var v = randn(1, 2, 4, 8).to(ScalarType.BFloat16);
        using var actual = CausalAttention.Attend(q, k, v);
        // softmax(q·kᵀ/√d + causal mask, dtype=float32).to(bf16) · v, as transformers' eager attention.
        using var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(8);
        using var mask = ones(4, 4, dtype: ScalarType.Bool).triu(1);
        using var weights = nn.functional.softmax(scores.masked_fill(mask, float.NegativeInfinity), -1, ScalarType.Float32).to(ScalarType.BFloat16);
        using var expected = weights.matmul(v).transpose(1, 2).reshape(1, 4, 16);
        TensorAssert.BitwiseEqual(expected, actual);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Gemmas_RmsNorm_weights_by_one_plus_w_in_fp32_and_rounds_once(ScalarType dtype)
    {
        using var norm = RmsNorm.Gemma(64, 1e-6);
        norm.to(dtype);
        manual_seed(121);
        using (no_grad()) norm.named_parameters().Single().parameter.copy_(rand(64) - 0.5);
        using var x = (randn(3, 64) * 30).to(dtype);
        using var actual = norm.forward(x);
        // transformers' Gemma2RMSNorm / Gemma3RMSNorm: (_norm(x.float()) * (1.0 + weight.float())).type_as(x)
        using var wide = x.to(float32);
        using var normalized = wide * (wide.pow(2).mean([-1], keepdim: true) + 1e-6).rsqrt();
        using var onePlus = norm.named_parameters().Single().parameter.to(float32) + 1;
        using var expected = (normalized * onePlus).to(dtype);
        Assert.Equal(dtype, actual.dtype);
        TensorAssert.BitwiseEqual(expected, actual);
        using var llamaRounding = normalized.to(dtype) * onePlus.to(dtype);                  // rounded twice: not what Gemma does
        using var same = llamaRounding.eq(actual).all();
        Assert.False(same.item<bool>());
    }

    [Theory]
    [InlineData("gemma3_text", 1152, ScalarType.BFloat16, 34.0)]          // √1152 = 33.941…: an fp32 buffer rounded to bf16
    [InlineData("gemma3_text", 1152, ScalarType.Float16, 33.9375)]
    [InlineData("gemma3_text", 1152, ScalarType.Float32, 33.941123962402344)]
    [InlineData("gemma2", 2304, ScalarType.BFloat16, 48.0)]                // √2304 = 48 exactly
    [InlineData("gemma2", 3584, ScalarType.BFloat16, 59.75)]               // √3584 = 59.866…, straight to bf16
    public void Gemma_scales_embeddings_by_the_root_of_hidden_rounded_to_the_model_dtype(string type, int hidden, ScalarType dtype, double expected)
    {
        var config = new LoraGen.Planning.ModelConfig(type, type == "gemma2" ? LoraGen.Planning.ModelFamily.Gemma2 : LoraGen.Planning.ModelFamily.Gemma3,
            hidden, 8, 1, 1, 1, 4, true);
        using var scale = LoraGen.Models.Gemma.GemmaModel.EmbeddingScale(config, dtype);
        Assert.Equal(dtype, scale.dtype);
        Assert.Equal(expected, scale.to(float64).item<double>());
    }
}
