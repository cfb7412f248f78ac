using LoraGen.Layers;
using LoraGen.Planning;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Planning;

public class ParameterSummaryTests
{
    [Theory]
    [InlineData(8, 65_536)]
    [InlineData(16, 131_072)]
    [InlineData(64, 524_288)]
    public void A_4096_square_layer_has_2_r_4096_trainable_parameters(int r, long expected)
    {
        // Built on the meta device: shapes and counts without 64 MB of weights.
        using var linear = nn.Linear(4096, 4096, hasBias: false, device: new Device(DeviceType.META));
        using var layer = new LoraLinear(linear, new LoraConfig(r, 2 * r), "proj");
        var summary = ParameterSummary.Of(layer);
        Assert.Equal(expected, summary.Trainable);
        Assert.Equal(4096L * 4096 + expected, summary.All);
    }

    [Fact]
    public void The_summary_line_matches_peft_to_the_digit()
    {
        Assert.Equal("trainable params: 65,536 || all params: 16,842,752 || trainable%: 0.3891",
            new ParameterSummary(65_536, 16_842_752).ToString());
        Assert.Equal("trainable params: 3,686,400 || all params: 3,089,625,088 || trainable%: 0.1193",
            new ParameterSummary(3_686_400, 3_089_625_088).ToString());
    }

    [Fact]
    public void Dora_adds_one_magnitude_per_output_row()
    {
        using var linear = nn.Linear(4096, 1024, hasBias: false, device: new Device(DeviceType.META));
        using var layer = new LoraLinear(linear, new LoraConfig(8, 16) { UseDora = true }, "proj");
        Assert.Equal(8L * 4096 + 1024 * 8 + 1024, ParameterSummary.Of(layer).Trainable);
    }
}
