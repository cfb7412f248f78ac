using System.Text.Json.Nodes;
using LoraGen.Checkpoints;
using LoraGen.Models.Gpt2;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>
/// peft adapter folders written the way peft's save_pretrained lays them out (its documented config fields and
/// defaults, its tensor keys), with the generic safetensors writer: independent of <see cref="PeftAdapter.Save"/>.
/// </summary>
internal static class PeftFixture
{
    public static readonly ModelConfig Llama = new("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 50, false);
    public static readonly ModelConfig Gpt2 = new("gpt2", ModelFamily.Gpt2, 32, 128, 2, 4, 4, 50, true, 16);

    public static LlamaForCausalLM BuildLlama()
    {
        manual_seed(1);
        return new LlamaForCausalLM(Llama);
    }

    public static Gpt2LMHeadModel BuildGpt2()
    {
        manual_seed(3);
        return new Gpt2LMHeadModel(Gpt2);
    }

    public static Tensor Ids(int vocab)
    {
        manual_seed(2);
        return randint(0, vocab, [2, 6]);
    }

    /// <summary>adapter_config.json as a recent peft writes it (every field it saves, at peft's defaults), then <paramref name="fields"/>.</summary>
    public static JsonObject Config(params (string Name, JsonNode? Value)[] fields)
    {
        var config = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(), ["auto_mapping"] = null, ["base_model_name_or_path"] = "TinyLlama/TinyLlama-1.1B",
            ["bias"] = "none", ["corda_config"] = null, ["eva_config"] = null, ["exclude_modules"] = null, ["fan_in_fan_out"] = false,
            ["inference_mode"] = true, ["init_lora_weights"] = true, ["layer_replication"] = null, ["layers_pattern"] = null,
            ["layers_to_transform"] = null, ["loftq_config"] = new JsonObject(), ["lora_alpha"] = 16, ["lora_bias"] = false,
            ["lora_dropout"] = 0.05, ["megatron_config"] = null, ["megatron_core"] = "megatron.core", ["modules_to_save"] = null,
            ["peft_type"] = "LORA", ["peft_version"] = "0.17.1", ["qalora_group_size"] = 16, ["r"] = 8, ["rank_pattern"] = new JsonObject(),
            ["revision"] = null, ["target_modules"] = new JsonArray("q_proj", "v_proj"), ["target_parameters"] = null, ["task_type"] = "CAUSAL_LM",
            ["trainable_token_indices"] = null, ["use_dora"] = false, ["use_qalora"] = false, ["use_rslora"] = false,
        };
        foreach (var (name, value) in fields) config[name] = value;
        return config;
    }

    public static void Write(string directory, JsonObject config, IEnumerable<(string Key, Tensor Value)> tensors)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "adapter_config.json"), config.ToJsonString());
        SafetensorsWriter.Write(Path.Combine(directory, "adapter_model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>A (r, in) and B (out, r), random and not small, for the layer at <paramref name="path"/>.</summary>
    public static (Tensor A, Tensor B) Pair(long inFeatures, long outFeatures, int r, long seed)
    {
        manual_seed(seed);
        return (randn(r, inFeatures) * 0.2, randn(outFeatures, r) * 0.2);
    }

    /// <summary>The logits of a fresh model after <paramref name="edit"/> changed its parameters by the published formulas.</summary>
    public static Tensor ReferenceLogits(Func<nn.Module<Tensor, Tensor>> build, Action<IReadOnlyDictionary<string, TorchSharp.Modules.Parameter>> edit, int vocab)
    {
        using var model = build();
        using (no_grad()) edit(model.named_parameters().ToDictionary(p => p.name, p => p.parameter));
        model.eval();
        using var ids = Ids(vocab);
        return model.forward(ids);
    }
}
