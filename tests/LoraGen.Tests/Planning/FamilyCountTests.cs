using System.Globalization;
using LoraGen.Planning;

namespace LoraGen.Tests.Planning;

/// <summary>
/// The families read from their published config.json sizes: the parameter totals of the model cards and
/// technical reports, and peft's line for all-linear LoRA at r = 16 with the adapter count worked out here from
/// the layer shapes (r·(in + out) per adapted Linear), not asked of the planner.
/// </summary>
public class FamilyCountTests
{
    // The config.json fields that decide the sizes (the rest of each file does not change a count).
    private const string Qwen3_06B = """
        {"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
         "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": true, "rope_theta": 1000000,
         "rms_norm_eps": 1e-06, "hidden_act": "silu", "attention_bias": false, "use_sliding_window": false, "sliding_window": null,
         "max_window_layers": 28, "max_position_embeddings": 40960, "rope_scaling": null}
        """;

    private const string Qwen3_8B = """
        {"model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936, "tie_word_embeddings": false, "rope_theta": 1000000,
         "rms_norm_eps": 1e-06, "hidden_act": "silu", "attention_bias": false, "use_sliding_window": false, "sliding_window": null,
         "max_window_layers": 36, "max_position_embeddings": 40960, "rope_scaling": null}
        """;

    // No tie_word_embeddings key: Gemma2Config's default (true) applies.
    private const string Gemma2_2B = """
        {"model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8,
         "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000, "hidden_act": "gelu_pytorch_tanh",
         "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 256, "sliding_window": 4096,
         "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "rope_theta": 10000.0, "rms_norm_eps": 1e-06,
         "max_position_embeddings": 8192, "cache_implementation": "hybrid"}
        """;

    private const string Gemma3_1B = """
        {"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4,
         "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144, "hidden_activation": "gelu_pytorch_tanh",
         "query_pre_attn_scalar": 256, "sliding_window": 512, "sliding_window_pattern": 6, "rope_theta": 1000000,
         "rope_local_base_freq": 10000, "rope_scaling": null, "attn_logit_softcapping": null, "final_logit_softcapping": null,
         "rms_norm_eps": 1e-06, "max_position_embeddings": 32768}
        """;

    private const string Phi3Mini4k = """
        {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 32, "vocab_size": 32064, "tie_word_embeddings": false, "hidden_act": "silu", "rms_norm_eps": 1e-05,
         "rope_theta": 10000.0, "rope_scaling": null, "sliding_window": 2047, "max_position_embeddings": 4096,
         "original_max_position_embeddings": 4096, "attention_dropout": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0}
        """;

    private const string Llama32_1B = """
        {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256, "tie_word_embeddings": true, "rope_theta": 500000.0,
         "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "hidden_act": "silu", "attention_bias": false, "mlp_bias": false}
        """;

    private const string MistralNemo12B = """
        {"model_type": "mistral", "hidden_size": 5120, "intermediate_size": 14336, "num_hidden_layers": 40, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 131072, "tie_word_embeddings": false, "rope_theta": 1000000.0,
         "sliding_window": null, "max_position_embeddings": 1024000, "rms_norm_eps": 1e-05, "hidden_act": "silu"}
        """;

    public static TheoryData<string, string, long> Published => new()
    {
        // 16 × (q 2048·2048 + k, v 2048·512 each + o 2048·2048 + 3·2048·8192 + 2·2048) = 16 × 60,821,504 = 973,144,064,
        // + 2,048, + tied embedding 128,256·2,048 = 262,668,288: 1,235,814,400 ("1.24B").
        { "llama-3.2-1b", Llama32_1B, 1_235_814_400 },
        // 40 × (q 5120·4096 + k, v 5120·1024 each + o 4096·5120 + 3·5120·14336 + 2·5120) = 40 × 272,640,000, + 5,120,
        // + untied embedding and lm_head 2 × 131,072·5,120 = 1,342,177,280: 12,247,782,400 ("12B"; head_dim 128 ≠ 5120/32).
        { "mistral-nemo-12b", MistralNemo12B, 12_247_782_400 },
        // 28 layers × (q 1024·2048 + k, v 1024·1024 each + o 2048·1024 + 3·1024·3072 + norms 2·1024 + q/k norms 2·128)
        // = 28 × 15,730,944 = 440,466,432, + final norm 1,024 = 440,467,456 ("non-embedding 0.44B"), + tied embedding
        // 151,936·1,024 = 155,582,464 once: 596,049,920 ("0.6B").
        { "qwen3-0.6b", Qwen3_06B, 596_049_920 },
        // 36 × (4096·4096·2 + 4096·1024·2 + 3·4096·12288 + 2·4096 + 2·128) = 36 × 192,946,432 = 6,946,071,552, + 4,096
        // = 6,946,075,648 non-embedding, + untied embedding and lm_head 2 × 622,329,856: 8,190,735,360 ("8.2B").
        { "qwen3-8b", Qwen3_8B, 8_190_735_360 },
        // 26 × (2304·2048·2 + 2304·1024·2 + 3·2304·9216 + 4·2304) = 26 × 77,865,984 = 2,024,515,584, + 2,304, + tied
        // embedding 256,000·2,304 = 589,824,000: 2,614,341,888 ("2.6B").
        { "gemma-2-2b", Gemma2_2B, 2_614_341_888 },
        // 26 × (1152·1024·2 + 1152·256·2 + 3·1152·6912 + 4·1152 + 2·256) = 26 × 26,842,112 = 697,894,912, + 1,152
        // = 697,896,064 non-embedding ("698M"), + tied embedding 262,144·1,152 = 301,989,888 ("302M"): 999,885,952 ("1B").
        { "gemma-3-1b", Gemma3_1B, 999_885_952 },
        // 32 × (qkv 3072·9216 + o 3072·3072 + gate_up 3072·16384 + down 8192·3072 + 2·3072) = 32 × 113,252,352
        // = 3,624,075,264, + 3,072, + embedding and lm_head 2 × 32,064·3,072 = 197,001,216: 3,821,079,552 ("3.8B").
        { "phi-3-mini", Phi3Mini4k, 3_821_079_552 },
    };

    [Theory]
    [MemberData(nameof(Published))]
    public void The_published_config_reads_as_the_preset_and_counts_the_published_total(string preset, string json, long total)
    {
        var config = ModelConfigReader.FromJson(json);
        Assert.Equal(ModelPresets.Get(preset), config);
        Assert.Equal(total, ModelInventory.For(config).TotalParameters);
        Assert.Equal(total, Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, [])).BaseParameters);
    }

    [Theory]
    [MemberData(nameof(Published))]
    public void All_linear_at_r16_prints_peft_line_from_the_layer_shapes(string preset, string json, long total)
    {
        var c = ModelConfigReader.FromJson(json);
        long h = c.HiddenSize, q = c.Heads * c.HeadDim, kv = c.KvHeads * c.HeadDim, i = c.IntermediateSize;
        // peft's all-linear: every Linear but lm_head. Phi-3's are the fused qkv_proj (h → q + 2kv) and gate_up_proj (h → 2i).
        (long In, long Out)[] adapted = c.Family == ModelFamily.Phi3
            ? [(h, q + 2 * kv), (q, h), (h, 2 * i), (i, h)]
            : [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)];
        long trainable = c.Layers * adapted.Sum(l => 16 * (l.In + l.Out));
        long all = total + trainable;
        string expected = string.Create(CultureInfo.InvariantCulture,
            $"trainable params: {trainable:N0} || all params: {all:N0} || trainable%: {100.0 * trainable / all:F4}");

        var plan = Planner.Plan(new PlanRequest(c, TrainingMethod.Lora, 16, 32, [Planner.AllLinear]));
        Assert.Equal(expected, plan.Parameters.ToString());
        Assert.Equal(preset switch
        {
            "llama-3.2-1b" => "trainable params: 11,272,192 || all params: 1,247,086,592 || trainable%: 0.9039",
            "mistral-nemo-12b" => "trainable params: 57,016,320 || all params: 12,304,798,720 || trainable%: 0.4634",
            "qwen3-0.6b" => "trainable params: 10,092,544 || all params: 606,142,464 || trainable%: 1.6650",
            "qwen3-8b" => "trainable params: 43,646,976 || all params: 8,234,382,336 || trainable%: 0.5301",
            "gemma-2-2b" => "trainable params: 20,766,720 || all params: 2,635,108,608 || trainable%: 0.7881",
            "gemma-3-1b" => "trainable params: 13,045,760 || all params: 1,012,931,712 || trainable%: 1.2879",
            _ => "trainable params: 25,165,824 || all params: 3,846,245,376 || trainable%: 0.6543",
        }, expected);
    }

    [Fact]
    public void Phi3_all_linear_targets_the_fused_layers_as_peft_does()
    {
        var plan = Planner.Plan(new PlanRequest(ModelPresets.Get("phi-3-mini"), TrainingMethod.Lora, 16, 32, [Planner.AllLinear]));
        Assert.Equal(["model.layers.{i}.self_attn.qkv_proj", "model.layers.{i}.self_attn.o_proj", "model.layers.{i}.mlp.gate_up_proj", "model.layers.{i}.mlp.down_proj"],
            plan.Modules.Select(m => m.Pattern));
    }
}
