using System.Text.Json.Nodes;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>
/// peft adapters written by the test from peft's layout load through their own configuration, and the logits
/// equal the base model with W + s·B·A (DoRA: m ⊙ (W + s·B·A)/‖·‖) merged densely by the test.
/// </summary>
public sealed class PeftLoadTests() : TemporaryFolder("loragen-peft-load-")
{
        private string Dir => Folder.FullName;

    private static string[] LlamaPaths(params string[] leaves) =>
        Enumerable.Range(0, 2).SelectMany(i => leaves.Select(leaf => $"model.layers.{i}.{(leaf.EndsWith("_proj") && leaf is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn")}.{leaf}")).ToArray();

    /// <summary>(in, out) of the Llama fixture's layer at <paramref name="path"/>: hidden 32, kv width 16, intermediate 64.</summary>
    private static (long In, long Out) LlamaShape(string path) => path.Split('.')[^1] switch
    {
        "q_proj" or "o_proj" => (32, 32),
        "k_proj" or "v_proj" => (32, 16),
        "gate_proj" or "up_proj" => (32, 64),
        "down_proj" => (64, 32),
        "lm_head" => (32, 50),
        var leaf => throw new ArgumentException(leaf),
    };

    private static void AssertLogits(Tensor expected, nn.Module<Tensor, Tensor> model, int vocab)
    {
        model.eval();
        using var ids = PeftFixture.Ids(vocab);
        using var actual = model.forward(ids);
        TensorAssert.Close(expected, actual, 2e-5 * Math.Max(1, expected.abs().max().item<float>()));
    }

    /// <summary>Writes a plain-LoRA adapter over <paramref name="ranks"/> (path → r) and returns the test's own update per path.</summary>
    private Dictionary<string, (Tensor A, Tensor B)> WriteLora(JsonObject config, IReadOnlyDictionary<string, int> ranks, Func<string, (long, long)> shape, List<(string, Tensor)>? extra = null)
    {
        var pairs = new Dictionary<string, (Tensor, Tensor)>();
        var tensors = new List<(string, Tensor)>();
        long seed = 100;
        foreach (var (path, r) in ranks)
        {
            var (inFeatures, outFeatures) = shape(path);
            var (a, b) = PeftFixture.Pair(inFeatures, outFeatures, r, seed++);
            pairs[path] = (a, b);
            tensors.Add(($"base_model.model.{path}.lora_A.weight", a));
            tensors.Add(($"base_model.model.{path}.lora_B.weight", b));
        }
        PeftFixture.Write(Dir, config, tensors.Concat(extra ?? []));
        return pairs;
    }

    [Fact]
    public void A_Llama_adapter_with_peft_defaults_on_q_and_v_loads_through_its_own_config()
    {
        var pairs = WriteLora(PeftFixture.Config(), LlamaPaths("q_proj", "v_proj").ToDictionary(p => p, _ => 8), LlamaShape);
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildLlama, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * (16.0 / 8));
        }, 50);

        using var model = PeftFixture.BuildLlama();            // its own attribute says r=16 all-linear: the file decides
        var layers = PeftAdapter.Load(model, Dir);
        Assert.Equal(LlamaPaths("q_proj", "v_proj").Order(), layers.Select(l => l.GetName()).Order());
        Assert.All(layers, l => Assert.Equal((8, 16.0, 0.05), (l.Adapter("default").Config.R, l.Adapter("default").Config.Alpha, l.Adapter("default").Config.Dropout)));
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void All_linear_with_regex_rank_and_alpha_patterns_gives_each_layer_its_rank_and_alpha()
    {
        // peft matches pattern keys as (.*\.)?key$: "mlp\..*_proj" takes every MLP layer, "o_proj" the output projections.
        var config = PeftFixture.Config(("target_modules", "all-linear"), ("r", 4), ("lora_alpha", 8),
            ("rank_pattern", new JsonObject { ["mlp\\..*_proj"] = 2, ["o_proj"] = 6 }), ("alpha_pattern", new JsonObject { ["layers\\.1\\..*"] = 3.5 }));
        var paths = LlamaPaths("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
        int RankOf(string p) => p.Contains(".mlp.") ? 2 : p.EndsWith("o_proj") ? 6 : 4;
        double AlphaOf(string p) => p.Contains("layers.1.") ? 3.5 : 8;
        var pairs = WriteLora(config, paths.ToDictionary(p => p, RankOf), LlamaShape);
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildLlama, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * (AlphaOf(path) / RankOf(path)));
        }, 50);

        using var model = PeftFixture.BuildLlama();
        var layers = PeftAdapter.Load(model, Dir);
        Assert.Equal(14, layers.Count);                       // lm_head is never part of all-linear
        foreach (var layer in layers)
            Assert.Equal((RankOf(layer.GetName()), AlphaOf(layer.GetName())), (layer.Adapter("default").Config.R, layer.Adapter("default").Config.Alpha));
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void Layers_to_transform_adapts_only_the_listed_layers()
    {
        var config = PeftFixture.Config(("target_modules", new JsonArray("q_proj", "down_proj")), ("layers_to_transform", new JsonArray(1)), ("layers_pattern", "layers"));
        var paths = new[] { "model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj" };
        var pairs = WriteLora(config, paths.ToDictionary(p => p, _ => 8), LlamaShape);
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildLlama, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * 2.0);
        }, 50);

        using var model = PeftFixture.BuildLlama();
        var layers = PeftAdapter.Load(model, Dir);
        Assert.Equal(paths, layers.Select(l => l.GetName()));
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void A_GPT2_c_attn_adapter_saved_with_fan_in_fan_out_loads_into_the_Linear_layout()
    {
        // peft sets fan_in_fan_out for GPT-2's Conv1D; lora_A is (r, in) and lora_B (out, r) all the same.
        var config = PeftFixture.Config(("target_modules", new JsonArray("c_attn")), ("fan_in_fan_out", true), ("base_model_name_or_path", "gpt2"));
        var paths = new[] { "transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn" };
        var pairs = WriteLora(config, paths.ToDictionary(p => p, _ => 8), _ => (32, 96));
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildGpt2, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * 2.0);   // our c_attn is (out, in)
        }, 50);

        using var model = PeftFixture.BuildGpt2();
        Assert.Equal(2, PeftAdapter.Load(model, Dir).Count);
        Assert.True(ModelAdapters.ConfigOf(model, "default")!.FanInFanOut);
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void Bias_all_loads_every_trained_bias_under_peft_keys()
    {
        var config = PeftFixture.Config(("target_modules", new JsonArray("c_attn")), ("bias", "all"));
        using var reference = PeftFixture.BuildGpt2();
        manual_seed(7);
        // Adapted layers keep their bias at {path}.base_layer.bias; every other bias at its own path.
        var biases = reference.named_parameters().Where(p => p.name.EndsWith(".bias")).Select(p =>
        {
            string key = p.name.EndsWith("c_attn.bias") ? p.name.Replace("c_attn.bias", "c_attn.base_layer.bias") : p.name;
            return (Name: p.name, Key: "base_model.model." + key, Value: randn(p.parameter.shape) * 0.1);
        }).ToArray();
        var paths = new[] { "transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn" };
        var pairs = WriteLora(config, paths.ToDictionary(p => p, _ => 8), _ => (32, 96), biases.Select(b => (b.Key, b.Value)).ToList());
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildGpt2, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * 2.0);
            foreach (var bias in biases) p[bias.Name].copy_(bias.Value);
        }, 50);

        using var model = PeftFixture.BuildGpt2();
        PeftAdapter.Load(model, Dir);
        Assert.Contains(model.named_parameters(), p => p.name == "transformer.h.0.attn.c_attn.base_layer.bias" && p.parameter.requires_grad);
        Assert.Contains(model.named_parameters(), p => p.name == "transformer.h.0.mlp.c_fc.bias" && p.parameter.requires_grad);
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void Modules_to_save_lm_head_loads_its_full_copy_and_unload_restores_the_original()
    {
        var config = PeftFixture.Config(("modules_to_save", new JsonArray("lm_head")));
        manual_seed(8);
        using var head = randn(50, 32) * 0.3;
        var pairs = WriteLora(config, LlamaPaths("q_proj", "v_proj").ToDictionary(p => p, _ => 8), LlamaShape, [("base_model.model.lm_head.weight", head)]);
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildLlama, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * 2.0);
            p["lm_head.weight"].copy_(head);
        }, 50);

        using var model = PeftFixture.BuildLlama();
        using var original = model.named_parameters().First(p => p.name == "lm_head.weight").parameter.clone();
        PeftAdapter.Load(model, Dir);
        Assert.Contains(model.named_parameters(), p => p.name == "lm_head.weight" && p.parameter.requires_grad);
        AssertLogits(expected, model, 50);

        model.Unload();
        TensorAssert.BitwiseEqual(original, model.named_parameters().First(p => p.name == "lm_head.weight").parameter);
    }

    [Fact]
    public void A_DoRA_adapter_loads_its_magnitudes()
    {
        var config = PeftFixture.Config(("use_dora", true));
        var paths = LlamaPaths("q_proj", "v_proj");
        manual_seed(9);
        var magnitudes = paths.ToDictionary(p => p, p => rand(LlamaShape(p).Out) + 0.5);
        var pairs = WriteLora(config, paths.ToDictionary(p => p, _ => 8), LlamaShape,
            magnitudes.Select(m => ($"base_model.model.{m.Key}.lora_magnitude_vector", m.Value)).ToList());
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildLlama, p =>
        {
            foreach (var (path, (a, b)) in pairs)
            {
                var w = p[path + ".weight"];
                using var combined = w + b.matmul(a) * 2.0;                                       // (out, in)
                using var norms = combined.pow(2).sum(1, keepdim: true).sqrt();
                w.copy_(combined * magnitudes[path].unsqueeze(1) / norms);
            }
        }, 50);

        using var model = PeftFixture.BuildLlama();
        PeftAdapter.Load(model, Dir);
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void An_rsLoRA_adapter_scales_by_alpha_over_the_square_root_of_r()
    {
        var config = PeftFixture.Config(("use_rslora", true), ("r", 16), ("lora_alpha", 8));
        var pairs = WriteLora(config, LlamaPaths("q_proj", "v_proj").ToDictionary(p => p, _ => 16), LlamaShape);
        using var expected = PeftFixture.ReferenceLogits(PeftFixture.BuildLlama, p =>
        {
            foreach (var (path, (a, b)) in pairs) p[path + ".weight"].add_(b.matmul(a) * (8 / Math.Sqrt(16)));
        }, 50);

        using var model = PeftFixture.BuildLlama();
        PeftAdapter.Load(model, Dir);
        AssertLogits(expected, model, 50);
    }

    [Fact]
    public void A_second_load_under_another_name_adds_that_adapter_inactive()
    {
        WriteLora(PeftFixture.Config(), LlamaPaths("q_proj", "v_proj").ToDictionary(p => p, _ => 8), LlamaShape);
        using var model = PeftFixture.BuildLlama();
        PeftAdapter.Load(model, Dir);
        PeftAdapter.Load(model, Dir, "second");
        Assert.Equal(["default", "second"], ModelAdapters.AdapterNames(model));
        Assert.Equal(["default"], model.ActiveAdapters);
        Assert.DoesNotContain(model.named_parameters(), p => p.name.Contains(".second.") && p.parameter.requires_grad);
    }
}
