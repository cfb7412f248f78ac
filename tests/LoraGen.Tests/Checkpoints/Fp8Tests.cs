using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

/// <summary>FP8 checkpoints (F8_E4M3, F8_E5M2): decoded by the OCP FP8 spec's published values, listed and upcast on read.</summary>
[Collection(nameof(ConsoleOutput))]
public sealed class Fp8Tests() : TemporaryFolder("loragen-fp8-")
{
        [Theory]
    [InlineData(0x00, 0.0)]
    [InlineData(0x38, 1.0)]
    [InlineData(0xB8, -1.0)]
    [InlineData(0x7E, 448.0)]                 // largest finite value
    [InlineData(0x08, 0.015625)]              // smallest normal, 2^-6
    [InlineData(0x01, 0.001953125)]           // smallest subnormal, 2^-9
    [InlineData(0x3C, 1.5)]
    public void E4M3_values_are_the_published_ones(int code, double value) => Assert.Equal(value, Fp8.E4M3[code]);

    [Theory]
    [InlineData(0x3C, 1.0)]
    [InlineData(0x7B, 57344.0)]               // largest finite value
    [InlineData(0x04, 0.00006103515625)]      // smallest normal, 2^-14
    [InlineData(0x01, 0.0000152587890625)]    // smallest subnormal, 2^-16
    [InlineData(0xC0, -2.0)]
    public void E5M2_values_are_the_published_ones(int code, double value) => Assert.Equal(value, Fp8.E5M2[code]);

    [Fact]
    public void Special_codes_are_nan_or_infinity_as_each_format_defines()
    {
        Assert.True(float.IsNaN(Fp8.E4M3[0x7F]) && float.IsNaN(Fp8.E4M3[0xFF]));
        Assert.DoesNotContain(Fp8.E4M3, float.IsInfinity);                            // E4M3FN has no infinities
        Assert.Equal(float.PositiveInfinity, Fp8.E5M2[0x7C]);
        Assert.Equal(float.NegativeInfinity, Fp8.E5M2[0xFC]);
        Assert.True(float.IsNaN(Fp8.E5M2[0x7D]));
    }

    [Fact]
    public void An_FP8_tensor_is_listed_by_inspect_and_read_as_fp32()
    {
        string path = Path.Combine(Folder.FullName, "fp8.safetensors");
        var header = """{"w": {"dtype": "F8_E4M3", "shape": [2, 2], "data_offsets": [0, 4]}}""";
        File.WriteAllBytes(path, SafetensorsTests.Craft(header, [0x38, 0xB8, 0x7E, 0x01]));
        using (var file = SafetensorsFile.Open(path))
        using (var w = file.Read("w"))
        {
            Assert.Equal(ScalarType.Float32, w.dtype);
            Assert.Equal(new float[] { 1, -1, 448, 0.001953125f }, w.data<float>().ToArray());
        }
        var (exit, output, error) = CliRunner.Run("inspect", path);
        Assert.True(exit == 0, error);
        Assert.Contains("F8_E4M3", output);
    }
}
