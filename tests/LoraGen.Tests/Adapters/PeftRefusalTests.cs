using System.Text.Json.Nodes;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>
/// Every refusal of <see cref="PeftAdapter.Load"/>: the exception type, a message naming the file and the field or
/// tensor at fault, and a model left exactly as it was. Each case is made by the test and runs under a timeout.
/// </summary>
[Collection(nameof(ConsoleOutput))]
public sealed class PeftRefusalTests() : TemporaryFolder("loragen-peft-refuse-")
{
    private static readonly string[] Paths = ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"];

    /// <summary>A good q/v adapter at r = 8, which each case then spoils.</summary>
    private static List<(string Key, Tensor Value)> Tensors(int r = 8, string prefix = "base_model.model.")
    {
        var list = new List<(string, Tensor)>();
        long seed = 70;
        foreach (var path in Paths)
        {
            long outFeatures = path.EndsWith("v_proj") ? 16 : 32;
            var (a, b) = PeftFixture.Pair(32, outFeatures, r, seed++);
            list.Add(($"{prefix}{path}.lora_A.weight", a));
            list.Add(($"{prefix}{path}.lora_B.weight", b));
        }
        return list;
    }

    public static TheoryData<string, string> Cases() => new()
    {
        { "peft_type", "adapter_config.json: field 'peft_type' is 'IA3'; LoraGen loads LORA adapters only" },
        { "use_qalora", "adapter_config.json: field 'use_qalora' = true is not supported by LoraGen" },
        { "lora_bias", "adapter_config.json: field 'lora_bias' = true is not supported by LoraGen" },
        { "megatron_config", "adapter_config.json: field 'megatron_config' = {\"tensor_model_parallel_size\":2} is not supported" },
        { "target_parameters", "adapter_config.json: field 'target_parameters' = [\"experts.gate_up_proj\"] is not supported" },
        { "unknown_field", "adapter_config.json: field 'shiny_new_option' = 3 is not supported" },
        { "init_pissa", "adapter_config.json: field 'init_lora_weights' is 'pissa'" },
        { "r_as_string", "adapter_config.json: field 'r' must be a whole number; got \"8\"" },
        { "alpha_as_bool", "adapter_config.json: field 'lora_alpha' must be a finite number; got true" },
        { "bias_unknown", "adapter_config.json: field 'bias' is 'everything'" },
        { "no_peft_type", "adapter_config.json: field 'peft_type' is missing" },
        { "not_json", "adapter_config.json: not valid JSON" },
        { "targets_nothing", "Target modules [q_projj, vproj] not found in LlamaForCausalLM; nearest module names: 'q_projj': 'q_proj'" },
        { "rank_differs", "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': has shape [8, 32]; the model needs [4, 32] for r=4" },
        { "missing_key", "adapter_model.safetensors: does not fit the model: missing keys [base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight], unexpected keys []" },
        { "extra_prefix", "adapter_model.safetensors: its keys have 'model.' before the model's module paths" },
        { "lacking_prefix", "adapter_model.safetensors: its keys lack 'model.' before the model's module paths" },
        { "nan", "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight': holds NaN or Inf" },
        { "integer", "adapter_model.safetensors: tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': has dtype I32; adapter tensors must be floating point" },
        { "name_taken", "adapter_config.json: LlamaForCausalLM already has an adapter named 'default'" },
    };

    /// <summary>Writes the case's adapter folder; returns whether the model must already hold an adapter.</summary>
    private bool WriteCase(string name, string directory)
    {
        var config = PeftFixture.Config();
        var tensors = Tensors();
        switch (name)
        {
            case "peft_type": config["peft_type"] = "IA3"; break;
            case "use_qalora": config["use_qalora"] = true; break;
            case "lora_bias": config["lora_bias"] = true; break;
            case "megatron_config": config["megatron_config"] = new JsonObject { ["tensor_model_parallel_size"] = 2 }; break;
            case "target_parameters": config["target_parameters"] = new JsonArray("experts.gate_up_proj"); break;
            case "unknown_field": config["shiny_new_option"] = 3; break;
            case "init_pissa": config["init_lora_weights"] = "pissa"; break;
            case "r_as_string": config["r"] = "8"; break;
            case "alpha_as_bool": config["lora_alpha"] = true; break;
            case "bias_unknown": config["bias"] = "everything"; break;
            case "no_peft_type": config.Remove("peft_type"); break;
            case "targets_nothing": config["target_modules"] = new JsonArray("q_projj", "vproj"); break;
            case "rank_differs": config["r"] = 4; break;
            case "missing_key": tensors.RemoveAt(tensors.Count - 1); break;
            case "extra_prefix": tensors = Tensors(prefix: "base_model.model.model."); break;
            case "lacking_prefix": tensors = tensors.Select(t => (t.Key.Replace("base_model.model.model.", "base_model.model."), t.Value)).ToList(); break;
            case "nan": tensors[1] = (tensors[1].Key, tensors[1].Value.clone().index_put_(float.NaN, 0, 0)); break;
            case "integer": tensors[0] = (tensors[0].Key, tensors[0].Value.to(ScalarType.Int32)); break;
        }
        PeftFixture.Write(directory, config, tensors);
        if (name == "not_json") File.WriteAllText(Path.Combine(directory, "adapter_config.json"), "{\"peft_type\": \"LORA\", ");
        return name == "name_taken";
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_bad_adapter_is_refused_by_name_and_the_model_is_unchanged(string name, string message)
    {
        string directory = Path.Combine(Folder.FullName, name);
        bool preload = WriteCase(name, directory);
        using var model = PeftFixture.BuildLlama();
        if (preload)
        {
            string good = Path.Combine(Folder.FullName, name + "-good");
            PeftFixture.Write(good, PeftFixture.Config(), Tensors());
            PeftAdapter.Load(model, good);
        }
        var names = string.Join(",", model.named_parameters().Select(p => p.name));
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.clone());
        var adapters = ModelAdapters.AdapterNames(model);

        var error = Bounded.Throws<CheckpointException>(() => PeftAdapter.Load(model, directory));
        Assert.StartsWith(directory + Path.DirectorySeparatorChar, error.Message);
        Assert.Contains(message, error.Message);

        Assert.Equal(names, string.Join(",", model.named_parameters().Select(p => p.name)));
        foreach (var (parameterName, parameter) in model.named_parameters()) TensorAssert.BitwiseEqual(before[parameterName], parameter);
        Assert.Equal(adapters, ModelAdapters.AdapterNames(model));
    }

    [Theory]
    [InlineData("unknown_field", "field 'shiny_new_option' = 3 is not supported")]
    [InlineData("r_as_string", "field 'r' must be a whole number")]
    [InlineData("integer", "has dtype I32; adapter tensors must be floating point")]
    [InlineData("rank_differs", "has rank 8 ([8, 32]) but adapter_config.json gives 'model.layers.0.self_attn.q_proj' r=4")]
    public void Inspect_reports_a_bad_adapter_with_exit_code_2(string name, string message)
    {
        string directory = Path.Combine(Folder.FullName, name);
        WriteCase(name, directory);
        var (exit, output, error) = Bounded.Run(() => CliRunner.Run("inspect", directory));
        Assert.Equal(2, exit);
        Assert.Contains(directory, error);
        Assert.Contains(message, error);
    }
}

/// <summary>Runs a bad-input case with a time limit: a hang fails the test instead of stalling the run.</summary>
internal static class Bounded
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    public static TException Throws<TException>(Action action) where TException : Exception =>
        Run(() => Assert.Throws<TException>(action));

    public static T Run<T>(Func<T> action)
    {
        var task = Task.Run(action);
        if (!task.Wait(Limit)) throw new TimeoutException($"the case ran past {Limit.TotalSeconds} s");
        return task.Result;
    }
}
