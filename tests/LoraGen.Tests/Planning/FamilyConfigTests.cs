using LoraGen.Planning;

namespace LoraGen.Tests.Planning;

/// <summary>The newer families' config fields: transformers' defaults where a field is absent, and what LoraGen does not compute refused by name.</summary>
public class FamilyConfigTests
{
    private const string Sizes = """
        "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 12, "num_attention_heads": 4, "vocab_size": 100
        """;

    private static ModelConfig Read(string type, string fields = "") =>
        ModelConfigReader.FromJson($$"""{"model_type": "{{type}}", {{Sizes}}{{(fields.Length > 0 ? ", " + fields : "")}}}""", "c/config.json");

    [Fact]
    public void Gemma2_defaults_are_Gemma2Configs()
    {
        var c = Read("gemma2");
        Assert.Equal((true, 256, 4, 256.0, 50.0, 30.0, 4096, 10000.0), (c.TieWordEmbeddings, c.HeadDim, c.KvHeads, c.QueryPreAttnScalar, c.AttentionSoftcap, c.FinalLogitSoftcap, c.SlidingWindow, c.RopeTheta));
        Assert.Equal(1 / 16.0, c.AttentionScale);
        Assert.Equal([4096, null, 4096, null], Enumerable.Range(0, 4).Select(c.WindowOf));   // even layers slide
        Assert.Equal((10000.0, (RopeScaling?)null), c.RopeOf(0));
    }

    [Fact]
    public void Gemma3_slides_five_layers_of_six_at_the_local_base_and_null_switches_capping_off()
    {
        var c = Read("gemma3_text", """
            "sliding_window": 512, "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "final_logit_softcapping": null
            """);
        Assert.Equal((true, (double?)null, (double?)null, 1_000_000.0, 10000.0), (c.TieWordEmbeddings, c.AttentionSoftcap, c.FinalLogitSoftcap, c.RopeTheta, c.LocalRopeTheta));
        Assert.Equal([5, 11], Enumerable.Range(0, 12).Where(i => c.WindowOf(i) is null));
        Assert.Equal((10000.0, (RopeScaling?)null), c.RopeOf(0));                          // local layers: unscaled
        Assert.Equal((1_000_000.0, new RopeScaling("linear", 8)), c.RopeOf(5));          // global layers: rope_scaling
        Assert.Equal(50.0, Read("gemma3_text", """ "attn_logit_softcapping": 50 """).AttentionSoftcap);
        Assert.Equal([2, 5, 8, 11], Enumerable.Range(0, 12).Where(i => Read("gemma3_text", """ "sliding_window_pattern": 3 """).WindowOf(i) is null));
    }

    [Fact]
    public void Qwen3_and_Phi3_defaults()
    {
        var qwen = Read("qwen3");
        Assert.Equal((128, 4, false, 1e-6, (int?)null), (qwen.HeadDim, qwen.KvHeads, qwen.TieWordEmbeddings, qwen.NormEps, qwen.SlidingWindow));
        var phi = Read("phi3", """ "partial_rotary_factor": 0.75, "sliding_window": 2047 """);
        Assert.Equal((16, 0.75, 1e-5, (int?)2047, (int?)2047), (phi.HeadDim, phi.RotaryFraction, phi.NormEps, phi.WindowOf(0), phi.WindowOf(11)));
    }

    [Fact]
    public void Layer_types_are_accepted_when_they_say_what_the_pattern_says()
    {
        string types = string.Join(", ", Enumerable.Range(0, 12).Select(i => (i + 1) % 6 == 0 ? "\"full_attention\"" : "\"sliding_attention\""));
        Assert.Equal(6, Read("gemma3_text", $""" "layer_types": [{types}] """).SlidingWindowPattern);
        string full = string.Join(", ", Enumerable.Repeat("\"full_attention\"", 12));
        Assert.Null(Read("qwen3", $""" "layer_types": [{full}] """).SlidingWindow);
    }

    [Theory]
    [InlineData("qwen3", """ "use_sliding_window": true """,
        "field 'use_sliding_window' is true; Qwen3's sliding layers (from max_window_layers on) are not computed by LoraGen")]
    [InlineData("qwen3", """ "hidden_act": "gelu" """, "field 'hidden_act' is 'gelu'; qwen3 is computed with silu only")]
    [InlineData("gemma2", """ "hidden_activation": "gelu" """, "field 'hidden_activation' is 'gelu'; gemma2 is computed with gelu_pytorch_tanh only")]
    [InlineData("gemma3_text", """ "use_bidirectional_attention": true """, "field 'use_bidirectional_attention' is true; only causal attention is computed")]
    [InlineData("gemma2", """ "layer_types": ["full_attention"] """,
        "field 'layer_types' differs from the arrangement LoraGen computes (layer i full_attention when (i + 1) % 2 == 0, else sliding_attention)")]
    [InlineData("qwen3", """ "layer_types": ["sliding_attention"] """,
        "field 'layer_types' must list \"full_attention\" for each of the 12 layers; sliding layers are not computed")]
    [InlineData("phi3", """ "rope_scaling": {"type": "longrope", "short_factor": [1], "long_factor": [2]} """,
        "rope_scaling type 'longrope' is not supported (supported: linear, dynamic, llama3, yarn)")]
    [InlineData("qwen3", """ "rope_parameters": {"rope_type": "default", "rope_theta": 1000000} """,
        "field 'rope_parameters' (transformers 5's layout) is not read; give rope_theta and rope_scaling as transformers 4 writes them")]
    [InlineData("gemma2", """ "final_logit_softcapping": -1 """, "field 'final_logit_softcapping' must be a positive finite number; got -1")]
    public void What_is_not_computed_is_refused_by_name(string type, string fields, string message)
    {
        var error = Assert.Throws<PlanException>(() => Read(type, fields));
        Assert.Equal($"c/config.json: {message}", error.Message);
    }
}
