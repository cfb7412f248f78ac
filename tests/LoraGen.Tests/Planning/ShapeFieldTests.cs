using LoraGen.Models.Llama;
using LoraGen.Planning;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Planning;

/// <summary>
/// config.json fields that change layer shapes, honoured alike by the planner and the models: head_dim
/// (Mistral-Nemo: 128 with hidden 5120 and 32 heads, so q is 4096 wide, not 5120), attention_bias and mlp_bias.
/// </summary>
public class ShapeFieldTests
{
    private const string MistralNemo = """
        {"model_type": "mistral", "hidden_size": 5120, "intermediate_size": 14336, "num_hidden_layers": 40,
         "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 131072,
         "tie_word_embeddings": false, "rope_theta": 1000000.0, "rms_norm_eps": 1e-05}
        """;

    [Fact]
    public void Mistral_Nemo_has_its_published_parameter_count_and_peft_line()
    {
        var config = ModelConfigReader.FromJson(MistralNemo);
        var full = Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, []));
        Assert.Equal(12_247_782_400, full.BaseParameters);                   // Mistral-Nemo-Base-2407
        var lora = Planner.Plan(new PlanRequest(config, TrainingMethod.Lora, 16, 32, [Planner.AllLinear]));
        // 40 layers × 16 × (q 5120+4096, k 5120+1024, v 5120+1024, o 4096+5120, gate/up 5120+14336, down 14336+5120).
        Assert.Equal(40L * 16 * (9216 + 6144 + 6144 + 9216 + 3 * 19456), lora.Parameters.Trainable);
    }

    [Fact]
    public void A_model_with_head_dim_builds_the_planned_shapes_and_runs()
    {
        var config = ModelConfigReader.FromJson("""
            {"model_type": "llama", "hidden_size": 48, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 50}
            """);
        manual_seed(3);
        using var model = new LlamaForCausalLM(config);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(new long[] { 64, 48 }, parameters["model.layers.0.self_attn.q_proj.weight"].shape);   // (heads·head_dim, hidden)
        Assert.Equal(new long[] { 48, 64 }, parameters["model.layers.0.self_attn.o_proj.weight"].shape);
        Assert.Equal(new long[] { 32, 48 }, parameters["model.layers.0.self_attn.k_proj.weight"].shape);
        Assert.Equal(Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, [])).BaseParameters, parameters.Values.Sum(p => p.numel()));
        using var ids = randint(0, 50, [2, 5]);
        using var logits = model.forward(ids);
        Assert.Equal(new long[] { 2, 5, 50 }, logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Fact]
    public void Attention_and_mlp_biases_are_counted_and_built_when_the_config_asks()
    {
        var config = ModelConfigReader.FromJson("""
            {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 50, "attention_bias": true, "mlp_bias": true}
            """);
        var plain = config with { AttentionBias = false, MlpBias = false };
        long extra = Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, [])).BaseParameters
                     - Planner.Plan(new PlanRequest(plain, TrainingMethod.Full, 0, 1, [])).BaseParameters;
        Assert.Equal(2L * (32 + 16 + 16 + 32 + 64 + 64 + 32), extra);    // per layer: q, k, v, o, gate, up, down biases
        manual_seed(4);
        using var model = new LlamaForCausalLM(config);
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.layers.1.self_attn.o_proj.bias", names);
        Assert.Contains("model.layers.1.mlp.down_proj.bias", names);
        Assert.Equal(Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, [])).BaseParameters, model.parameters().Sum(p => p.numel()));
    }
}
