using LoraGen.Planning;

namespace LoraGen.Tests.Planning;

public class ModelConfigReaderTests
{
    [Fact]
    public void Reads_a_llama_config_with_grouped_query_attention()
    {
        var config = ModelConfigReader.FromJson("""
            {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": false,
             "rope_theta": 500000.0, "rms_norm_eps": 1e-5}
            """);
        Assert.Equal(ModelPresets.Get("llama-3-8b"), config);
        Assert.Equal(1024, config.KvDim);
    }

    [Fact]
    public void Reads_gpt2_field_names()
    {
        var config = ModelConfigReader.FromJson("""{"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024, "n_inner": null}""");
        Assert.Equal(ModelPresets.Get("gpt2"), config);
    }

    [Fact]
    public void Reads_phi_with_its_partial_rotary_factor()
    {
        var config = ModelConfigReader.FromJson("""
            {"model_type": "phi", "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 32,
             "num_attention_heads": 32, "vocab_size": 51200, "partial_rotary_factor": 0.4, "tie_word_embeddings": false}
            """);
        Assert.Equal(ModelPresets.Get("phi-2"), config);
        var error = Assert.Throws<PlanException>(() => ModelConfigReader.FromJson("""
            {"model_type": "phi", "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4,
             "vocab_size": 10, "partial_rotary_factor": 2}
            """, "phi.json"));
        Assert.Equal("phi.json: field 'partial_rotary_factor' must be a number in (0, 1]; got 2", error.Message);
    }

    [Theory]
    [InlineData("""{"model_type": "bert"}""", "model_type 'bert' is not supported (supported: llama, mistral, qwen2, qwen3, gemma2, gemma3_text, gpt2, phi, phi3)")]
    [InlineData("""{"hidden_size": 8}""", "missing field 'model_type'")]
    [InlineData("""{"model_type": "llama", "hidden_size": 64}""", "missing field 'intermediate_size'")]
    [InlineData("""{"model_type": "llama", "hidden_size": -64, "intermediate_size": 8}""", "field 'hidden_size' must be positive; got -64")]
    [InlineData("""{"model_type": "llama", "hidden_size": "big"}""", "field 'hidden_size' must be a whole number; got \"big\"")]
    [InlineData("""{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 6, "vocab_size": 10}""",
        "hidden size 64 is not divisible by the 6 attention heads")]
    [InlineData("""{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3, "vocab_size": 10}""",
        "4 attention heads are not divisible by the 3 key/value heads")]
    public void Bad_configs_name_the_file_and_the_field(string json, string message)
    {
        var error = Assert.Throws<PlanException>(() => ModelConfigReader.FromJson(json, "models/x/config.json"));
        Assert.Equal($"models/x/config.json: {message}", error.Message);
    }
}
