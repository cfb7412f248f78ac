using LoraGen.Planning;

namespace LoraGen.Tests.Models;

/// <summary>config.json's rope_scaling: linear, dynamic, llama3 and yarn computed as transformers computes them; other kinds refused by name.</summary>
public class RopeScalingTests
{
    private static ModelConfig Read(string scaling) => ModelConfigReader.FromJson($$"""
        {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "vocab_size": 128256, "rope_theta": 500000.0, "rope_scaling": {{scaling}}}
        """, "config.json");

    [Fact]
    public void Llama_3_2_scaling_keeps_high_frequencies_divides_low_ones_and_blends_between()
    {
        // Llama-3.2-1B's config.json.
        var config = Read("""{"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}""");
        Assert.Equal(new RopeScaling("llama3", 32, 1, 4, 8192), config.RopeScaling);
        var scaled = RopeScaling.InverseFrequencies(500000, 64, config.RopeScaling);
        var plain = RopeScaling.InverseFrequencies(500000, 64, null);
        Assert.Equal(1.0, plain[0]);
        for (int i = 0; i < 32; i++)
        {
            double wavelength = 2 * Math.PI / plain[i];
            if (wavelength < 8192 / 4.0) Assert.Equal(plain[i], scaled[i]);                         // short wavelengths: unchanged
            else if (wavelength > 8192 / 1.0) Assert.Equal(plain[i] / 32, scaled[i], 1e-15);          // long ones: stretched by the factor
            else
            {
                double t = (8192 / wavelength - 1) / (4 - 1);                                           // 0 at the long end, 1 at the short end
                Assert.Equal((1 - t) * plain[i] / 32 + t * plain[i], scaled[i], 1e-15);
                Assert.InRange(scaled[i], plain[i] / 32, plain[i]);
            }
        }
        Assert.Contains(Enumerable.Range(0, 32), i => 2 * Math.PI / plain[i] is > 2048 and < 8192);   // the blend is exercised
    }

    [Fact]
    public void Linear_scaling_divides_every_frequency()
    {
        var config = Read("""{"type": "linear", "factor": 4.0}""");
        var scaled = RopeScaling.InverseFrequencies(10000, 16, config.RopeScaling);
        var plain = RopeScaling.InverseFrequencies(10000, 16, null);
        Assert.Equal(plain.Select(f => f / 4), scaled);
    }

    [Theory]
    [InlineData("""{"rope_type": "longrope", "factor": 4.0}""", "rope_scaling type 'longrope' is not supported (supported: linear, dynamic, llama3, yarn)")]
    [InlineData("""{"type": "su", "factor": 2.0}""", "rope_scaling type 'su' is not supported")]
    [InlineData("""{"rope_type": "llama3", "factor": 8.0}""", "rope_scaling needs a positive 'low_freq_factor'")]
    [InlineData("""[1, 2]""", "field 'rope_scaling' must be an object or null")]
    public void Other_kinds_are_refused_by_name_never_ignored(string scaling, string message)
    {
        var error = Assert.Throws<PlanException>(() => Read(scaling));
        Assert.StartsWith("config.json: ", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void The_default_kind_is_no_scaling()
    {
        Assert.Null(Read("""{"rope_type": "default"}""").RopeScaling);
        Assert.Null(Read("null").RopeScaling);
    }

    [Fact]
    public void Dynamic_scaling_grows_the_base_only_past_max_position_embeddings()
    {
        var scaling = new RopeScaling("dynamic", 2, OriginalMaxPositions: 1024);
        Assert.Equal(RopeScaling.InverseFrequencies(10000, 64, null, 1024), RopeScaling.InverseFrequencies(10000, 64, scaling, 1024));
        // transformers: base · (factor·seq/max − (factor − 1))^(d/(d−2)), then θ^(−2i/d) with that base.
        double grown = 10000 * Math.Pow(2.0 * 3000 / 1024 - 1, 64 / 62.0);
        var scaled = RopeScaling.InverseFrequencies(10000, 64, scaling, 3000);
        for (int i = 0; i < 32; i++) Assert.Equal(Math.Pow(grown, -2.0 * i / 64), scaled[i], 1e-15);
    }

    [Fact]
    public void Yarn_keeps_fast_dimensions_interpolates_slow_ones_and_scales_attention()
    {
        var config = Read("""{"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096}""");
        var scaling = config.RopeScaling!;
        var plain = RopeScaling.InverseFrequencies(500000, 128, null);
        var scaled = RopeScaling.InverseFrequencies(500000, 128, scaling);
        // The correction dimensions where a dimension turns beta_fast = 32 and beta_slow = 1 times over 4096 positions.
        double Dimension(double turns) => 128 * Math.Log(4096 / (turns * 2 * Math.PI)) / (2 * Math.Log(500000));
        double low = Math.Floor(Dimension(32)), high = Math.Ceiling(Dimension(1));
        for (int i = 0; i < 64; i++)
        {
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            Assert.Equal(plain[i] * (1 - ramp) + plain[i] / 4 * ramp, scaled[i], 1e-15);
        }
        Assert.Equal(plain[0], scaled[0]);                                   // fast dimensions extrapolate
        Assert.Equal(plain[63] / 4, scaled[63], 1e-18);                      // slow ones interpolate
        Assert.Equal(0.1 * Math.Log(4) + 1, scaling.AttentionFactor, 1e-15);
        var (cos, _) = LoraGen.Models.Llama.Rotary.Tables(1, 128, 500000, TorchSharp.torch.CPU, scaling: scaling);
        using (cos) Assert.Equal(scaling.AttentionFactor, cos[0, 0].item<float>(), 1e-6);   // cos(0)·factor
    }
}
