using LoraGen.Quantization;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraGen.Tests.Quantization;

public class QuantizedWeightTests(ITestOutputHelper output)
{
    private static double Rms(Tensor a, Tensor b)
    {
        using var diff = a - b;
        return diff.square().mean().sqrt().item<float>();
    }

    [Fact]
    public void On_normal_weights_NF4_has_the_lowest_error_then_FP4_and_int4_absmax()
    {
        manual_seed(50);
        using var weight = randn(256, 1024);
        using var nf4 = QuantizedWeight.Quantize(weight, QuantType.Nf4, doubleQuantize: false);
        using var fp4 = QuantizedWeight.Quantize(weight, QuantType.Fp4, doubleQuantize: false);
        using var nf4Dense = nf4.Dequantize();
        using var fp4Dense = fp4.Dequantize();

        // int4 absmax, the plain alternative: 15 evenly spaced levels k/7 · absmax per block of 64.
        using var blocks = weight.reshape(-1, 64);
        using var absmax = blocks.abs().amax([1], keepdim: true);
        using var int4 = ((blocks / absmax * 7).round() / 7 * absmax).reshape(256, 1024);

        double nf4Error = Rms(weight, nf4Dense), fp4Error = Rms(weight, fp4Dense), int4Error = Rms(weight, int4);
        output.WriteLine($"RMS error on N(0,1), blocks of 64: NF4 {nf4Error:F4}, FP4 {fp4Error:F4}, int4-absmax {int4Error:F4}");
        Assert.True(nf4Error < fp4Error, $"NF4 {nf4Error} vs FP4 {fp4Error}");
        Assert.True(nf4Error < int4Error, $"NF4 {nf4Error} vs int4 {int4Error}");
    }

    [Fact]
    public void Codebook_values_round_trip_exactly_and_pack_first_code_high()
    {
        // Each block holds codebook values times its scale, with ±1 present so absmax is the scale.
        manual_seed(51);
        using var codes = randint(0, 16, [32, 64], dtype: int64);
        codes[.., 0] = 15;                                           // value 1.0: absmax = scale
        codes[0, 1] = 3;
        codes[0, 0] = 10;
        codes[0, 2] = 15;
        using var codebook = tensor(FourBitCodebook.Nf4);
        using var scales = rand(32, 1) + 0.5;
        using var weight = codebook[codes] * scales;                 // (32, 64)

        using var quantized = QuantizedWeight.Quantize(weight, QuantType.Nf4, doubleQuantize: false);
        Assert.Equal((byte)0xA3, quantized.Packed[0].item<byte>());   // codes 10 then 3
        using var dense = quantized.Dequantize();
        TensorAssert.Close(weight, dense, 1e-6);
    }

    [Fact]
    public void The_CPU_kernel_and_the_tensor_op_path_agree_exactly()
    {
        manual_seed(52);
        using var weight = randn(48, 320);
        foreach (var type in new[] { QuantType.Nf4, QuantType.Fp4 })
        {
            using var quantized = QuantizedWeight.Quantize(weight, type, blockSize: 64);
            using var fast = quantized.Dequantize();
            using var reference = quantized.DequantizeWithTensorOps();
            TensorAssert.BitwiseEqual(reference, fast);
        }
    }

    [Fact]
    public void Dequantizes_to_bf16_as_the_fp32_values_rounded()
    {
        manual_seed(54);
        using var weight = randn(64, 128);
        using var quantized = QuantizedWeight.Quantize(weight);
        using var fp32 = quantized.Dequantize();
        using var bf16 = quantized.Dequantize(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, bf16.dtype);
        TensorAssert.BitwiseEqual(fp32.to(ScalarType.BFloat16), bf16);
    }

    [Fact]
    public void Double_quantized_absmax_is_within_half_an_8_bit_step()
    {
        manual_seed(53);
        using var weight = randn(1000, 64) * (rand(1000, 1) * 3);   // block scales spread over [0, 3)
        using var plain = QuantizedWeight.Quantize(weight, doubleQuantize: false);
        using var compressed = QuantizedWeight.Quantize(weight, doubleQuantize: true);
        using var exact = plain.BlockAbsmax();
        using var decoded = compressed.BlockAbsmax();
        // Centred values in blocks of 256 map to int8 with step scale/127: error ≤ scale/254 per block.
        using var padded = nn.functional.pad(exact - exact.mean(), [0, 1024 - 1000]).reshape(-1, 256);
        using var bound = (padded.abs().amax([1]) / 254).repeat_interleave(256)[..1000];
        using var error = (decoded - exact).abs();
        Assert.True((error <= bound + 1e-6).all().item<bool>(), $"max error {error.max().item<float>()}");
    }

    [Theory]
    [InlineData(4096L * 4096, true)]
    [InlineData(4096L * 4096, false)]
    [InlineData(64L * 300, true)]
    public void Allocated_bytes_equal_the_storage_formula(long count, bool doubleQuantize)
    {
        using var weight = zeros(count / 64, 64);
        using var quantized = QuantizedWeight.Quantize(weight, doubleQuantize: doubleQuantize);
        long blocks = count / 64;
        long expected = doubleQuantize
            ? count / 2 + blocks + 4 * ((blocks + 255) / 256) + 4      // codes, int8 absmax, fp32 scale per 256, fp32 offset
            : count / 2 + 4 * blocks;                                  // codes, fp32 absmax
        Assert.Equal(expected, quantized.StorageBytes);
        if (count == 4096L * 4096 && doubleQuantize)
            Assert.Equal(4 + 8.0 / 64 + 32.0 / (64 * 256), 8.0 * quantized.StorageBytes / count, 4);   // ≈ 4.127 bits per weight (+ one offset)
    }

    [Fact]
    public void A_block_size_that_does_not_divide_is_refused_with_the_name()
    {
        using var weight = ones(10, 10);
        var error = Assert.Throws<ArgumentException>(() => QuantizedWeight.Quantize(weight, blockSize: 64, name: "layers.0.q_proj"));
        Assert.Contains("'layers.0.q_proj': block size 64 does not divide its 100 weights", error.Message);
    }

    [Fact]
    public void An_integer_weight_is_refused()
    {
        using var weight = ones(64, 64, dtype: int64);
        var error = Assert.Throws<ArgumentException>(() => QuantizedWeight.Quantize(weight, name: "fc"));
        Assert.Contains("'fc': dtype Int64 is not a floating-point type", error.Message);
    }

    [Fact]
    public void Quantization_state_of_the_wrong_shape_is_refused()
    {
        using var packed = zeros(100, dtype: ScalarType.Byte);
        using var absmax = zeros(4);
        var error = Assert.Throws<ArgumentException>(() =>
            QuantizedWeight.FromState([16, 32], QuantType.Nf4, 64, packed, absmax, null, null, null, "mlp.down_proj"));
        Assert.Contains("'mlp.down_proj': packed codes must be a 1-d Byte tensor of 256 elements; got Byte [100]", error.Message);
    }
}
