using LoraGen.Checkpoints;
using LoraGen.Models.Gpt2;
using LoraGen.Models.Llama;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

public sealed class HfLoadingTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-hf-");

    public void Dispose() => _folder.Delete(recursive: true);

    /// <summary>Rounds every parameter through bf16, as a bf16 checkpoint stores it.</summary>
    private static void RoundThroughBf16(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var p in model.parameters())
        {
            using var rounded = p.to(ScalarType.BFloat16).to(p.dtype);
            p.copy_(rounded);
        }
    }

    [Fact]
    public void A_tiny_Llama_in_HF_layout_bf16_loads_and_gives_the_same_logits()
    {
        var config = new ModelConfig("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 60, false, RopeTheta: 500000, NormEps: 1e-6);
        manual_seed(100);
        using var original = new LlamaForCausalLM(config);
        RoundThroughBf16(original);
        var tensors = original.named_parameters().Select(p => (p.name, p.parameter.to(ScalarType.BFloat16))).ToList();
        SafetensorsWriter.Write(Path.Combine(_folder.FullName, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(_folder.FullName, "config.json"), """
            {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 60, "rope_theta": 500000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": false}
            """);

        using var loaded = HfModels.Load(_folder.FullName);
        using var ids = randint(0, 60, [2, 9]);
        using var expected = original.forward(ids);
        using var actual = loaded.forward(ids);
        TensorAssert.BitwiseEqual(expected, actual);

        using var inBf16 = HfModels.Load(_folder.FullName, ScalarType.BFloat16);          // the dtype chosen at load
        Assert.All(inBf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var bf16Logits = inBf16.forward(ids);
        TensorAssert.Close(expected, bf16Logits, 0.1);                                      // bf16 arithmetic: ~1e-2
        foreach (var (_, t) in tensors) t.Dispose();
    }

    [Fact]
    public void A_tiny_GPT2_with_Conv1D_weights_and_no_prefix_loads_transposed()
    {
        var config = new ModelConfig("gpt2", ModelFamily.Gpt2, 32, 128, 2, 4, 4, 70, true, 16);
        manual_seed(101);
        using var original = new Gpt2LMHeadModel(config);
        RoundThroughBf16(original);
        var tensors = new List<(string, Tensor)>();
        foreach (var (name, p) in original.named_parameters())
        {
            bool conv1d = name.EndsWith(".weight", StringComparison.Ordinal) && (name.Contains(".c_attn.") || name.Contains(".c_proj.") || name.Contains(".c_fc."));
            var stored = (conv1d ? p.t() : p).contiguous().to(ScalarType.BFloat16);       // HF Conv1D keeps (in, out)
            tensors.Add((name["transformer.".Length..], stored));                             // saved from GPT2Model: no prefix
        }
        tensors.Add(("h.0.attn.bias", ones(1, 1, 16, 16)));                                     // HF's cached causal mask: not a parameter
        SafetensorsWriter.Write(Path.Combine(_folder.FullName, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(_folder.FullName, "config.json"),
            """{"model_type": "gpt2", "n_embd": 32, "n_inner": 128, "n_layer": 2, "n_head": 4, "vocab_size": 70, "n_positions": 16}""");

        using var loaded = HfModels.Load(_folder.FullName);
        using var ids = randint(0, 70, [1, 12]);
        using var expected = original.forward(ids);
        using var actual = loaded.forward(ids);
        TensorAssert.BitwiseEqual(expected, actual);
    }

    [Fact]
    public void A_checkpoint_that_does_not_fit_changes_nothing_and_names_the_keys()
    {
        var config = new ModelConfig("llama", ModelFamily.Llama, 32, 64, 1, 4, 4, 60, true);
        manual_seed(102);
        using var model = new LlamaForCausalLM(config);
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.clone());
        var tensors = model.named_parameters().Select(p => (p.name, p.name.EndsWith("q_proj.weight") ? zeros(16, 32) : zeros_like(p.parameter))).ToList();
        string path = Path.Combine(_folder.FullName, "model.safetensors");
        SafetensorsWriter.Write(path, tensors);
        using var checkpoint = ShardedCheckpoint.Open(_folder.FullName);
        var error = Assert.Throws<CheckpointException>(() => HfWeights.Load(model, checkpoint));
        Assert.Contains("tensor 'model.layers.0.self_attn.q_proj.weight' has shape [16, 32]", error.Message);
        foreach (var (name, p) in model.named_parameters()) TensorAssert.BitwiseEqual(before[name], p);

        SafetensorsWriter.Write(path, tensors.Where(t => !t.Item1.Contains("norm")).ToList());
        using var partial = ShardedCheckpoint.Open(_folder.FullName);
        var missing = Assert.Throws<CheckpointException>(() => HfWeights.Load(model, partial));
        Assert.Contains("missing [model.layers.0.input_layernorm.weight", missing.Message);
    }

    [Fact]
    public void A_merged_model_exports_as_a_plain_HF_checkpoint_that_loads_back()
    {
        var config = new ModelConfig("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 60, false);
        manual_seed(103);
        using var model = new LlamaForCausalLM(config);
        foreach (var layer in model.ApplyLora()) Layers.LayerFactory.Randomize(layer, seed: 104);
        using var ids = randint(0, 60, [1, 8]);
        using var adapted = model.forward(ids);

        string path = Path.Combine(_folder.FullName, "model.safetensors");
        Assert.Throws<CheckpointException>(() => MergedExport.Write(path, model));          // not merged yet
        model.MergeLora();
        MergedExport.Write(path, model, ScalarType.Float32);
        File.WriteAllText(Path.Combine(_folder.FullName, "config.json"), """
            {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 60, "rope_theta": 10000, "rms_norm_eps": 1e-5}
            """);
        using (var file = SafetensorsFile.Open(path))
        {
            Assert.Contains("model.layers.0.self_attn.q_proj.weight", file.Entries.Select(e => e.Name));
            Assert.DoesNotContain(file.Entries, e => e.Name.Contains("lora_") || e.Name.Contains("base_layer"));
        }
        using var plain = HfModels.Load(_folder.FullName);
        using var reloaded = plain.forward(ids);
        TensorAssert.Close(adapted, reloaded, 1e-4);
    }

    [Fact]
    public void A_merged_GPT2_exports_in_the_Conv1D_layout_transformers_loads()
    {
        var config = new ModelConfig("gpt2", ModelFamily.Gpt2, 32, 128, 2, 4, 4, 50, true, 16);
        manual_seed(105);
        using var model = new LoraGen.Models.Gpt2.Gpt2LMHeadModel(config);
        model.ApplyLora(new LoraGen.Adapters.PeftLoraConfig { TargetModules = LoraGen.Adapters.ModuleSelector.Names("c_attn", "c_proj") });
        foreach (var layer in LoraGen.Adapters.ModelAdapters.Layers(model)) Layers.LayerFactory.Randomize(layer, seed: 106);
        using var ids = randint(0, 50, [1, 6]);
        using var adapted = model.forward(ids);
        model.MergeLora();
        string path = Path.Combine(_folder.FullName, "model.safetensors");
        HfModels.Export(model, path, ScalarType.Float32);

        // transformers' Conv1D stores (in, out): c_attn (32, 96), c_fc (32, 128), mlp.c_proj (128, 32); the square
        // attn.c_proj must be the transpose of our (out, in) weight, not a copy of it.
        using (var file = SafetensorsFile.Open(path))
        {
            Assert.Equal(new long[] { 32, 96 }, file.Entry("transformer.h.0.attn.c_attn.weight").Shape);
            Assert.Equal(new long[] { 32, 128 }, file.Entry("transformer.h.0.mlp.c_fc.weight").Shape);
            Assert.Equal(new long[] { 128, 32 }, file.Entry("transformer.h.0.mlp.c_proj.weight").Shape);
            using var square = file.Read("transformer.h.1.attn.c_proj.weight");
            var ours = model.named_parameters().First(p => p.name == "transformer.h.1.attn.c_proj.base_layer.weight").parameter;
            TensorAssert.BitwiseEqual(ours.t(), square);
        }
        File.WriteAllText(Path.Combine(_folder.FullName, "config.json"), """
            {"model_type": "gpt2", "n_embd": 32, "n_inner": 128, "n_layer": 2, "n_head": 4, "vocab_size": 50, "n_positions": 16}
            """);
        using var plain = HfModels.Load(_folder.FullName);
        using var reloaded = plain.forward(ids);
        TensorAssert.Close(adapted, reloaded, 1e-4);
    }

    [Fact]
    public void A_large_export_is_sharded_with_an_index_as_save_pretrained_writes_it()
    {
        var config = new ModelConfig("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 60, false);
        manual_seed(107);
        using var model = new LlamaForCausalLM(config);
        model.ApplyLora();
        model.MergeLora();
        using var ids = randint(0, 60, [1, 5]);
        using var expected = model.forward(ids);
        HfModels.Export(model, Path.Combine(_folder.FullName, "model.safetensors"), ScalarType.Float32, maxShardBytes: 20_000);

        var shards = Directory.GetFiles(_folder.FullName, "model-*-of-*.safetensors").Select(Path.GetFileName).Order().ToArray();
        Assert.True(shards.Length > 2, $"{shards.Length} shards");
        Assert.Equal($"model-00001-of-{shards.Length:D5}.safetensors", shards[0]);
        Assert.False(File.Exists(Path.Combine(_folder.FullName, "model.safetensors")));
        using (var index = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder.FullName, "model.safetensors.index.json"))))
        {
            long totalSize = index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64();
            Assert.Equal(model.named_parameters().Where(p => !p.name.Contains("lora_")).Sum(p => p.parameter.numel() * 4), totalSize);
        }
        File.WriteAllText(Path.Combine(_folder.FullName, "config.json"), """
            {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 60, "rope_theta": 10000, "rms_norm_eps": 1e-5}
            """);
        using (var reloaded = HfModels.Load(_folder.FullName))
        using (var actual = reloaded.forward(ids))
            TensorAssert.Close(expected, actual, 1e-5);

        // A single-file export into the same folder removes the shards and the index, which would otherwise win.
        HfModels.Export(model, Path.Combine(_folder.FullName, "model.safetensors"), ScalarType.Float32);
        Assert.Empty(Directory.GetFiles(_folder.FullName, "model-*-of-*.safetensors"));
        Assert.False(File.Exists(Path.Combine(_folder.FullName, "model.safetensors.index.json")));
    }

    [Fact]
    public void An_export_converts_each_tensor_to_the_chosen_dtype()
    {
        var config = new ModelConfig("gpt2", ModelFamily.Gpt2, 32, 128, 1, 4, 4, 50, true, 16);
        manual_seed(108);
        using var model = new LoraGen.Models.Gpt2.Gpt2LMHeadModel(config);
        string path = Path.Combine(_folder.FullName, "model.safetensors");
        HfModels.Export(model, path);                                                  // bf16 by default
        using var file = SafetensorsFile.Open(path);
        Assert.All(file.Entries, e => Assert.Equal("BF16", e.DType));
        var fc = model.named_parameters().First(p => p.name == "transformer.h.0.mlp.c_fc.weight").parameter;   // (128, 32)
        using var expected = fc.t().to(ScalarType.BFloat16);                           // stored (in, out), rounded once
        using var stored = file.Read("transformer.h.0.mlp.c_fc.weight");
        TensorAssert.BitwiseEqual(expected, stored);
    }

    public static TheoryData<string, string> Families => new()
    {
        { "llama", """{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 60, "tie_word_embeddings": true}""" },
        { "qwen2", """{"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 60}""" },
        { "phi", """{"model_type": "phi", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 60}""" },
    };

    /// <summary>
    /// Loading builds the model on the meta device and gives each parameter a new tensor read from the file in the
    /// chosen dtype: the logits equal those of the model the checkpoint came from, every parameter is a CPU leaf
    /// that trains (as after from_pretrained), and none is left on meta.
    /// </summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void Every_family_loads_from_the_meta_device_in_the_chosen_dtype(string family, string configJson)
    {
        File.WriteAllText(Path.Combine(_folder.FullName, "config.json"), configJson);
        var config = ModelConfigReader.FromFile(_folder.FullName);
        manual_seed(109);
        using var original = HfModels.Create(config);
        RoundThroughBf16(original);
        var tensors = original.named_parameters().Select(p => (p.name, p.parameter.to(ScalarType.BFloat16))).ToList();
        SafetensorsWriter.Write(Path.Combine(_folder.FullName, "model.safetensors"), tensors);
        using var ids = randint(0, 60, [2, 7]);
        using var expected = original.forward(ids);

        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            using var loaded = HfModels.Load(_folder.FullName, dtype);
            Assert.All(loaded.named_parameters(), p =>
            {
                Assert.Equal(DeviceType.CPU, p.parameter.device_type);
                Assert.Equal(dtype, p.parameter.dtype);
                Assert.True(p.parameter.requires_grad, $"{family}: {p.name}");
                Assert.True(p.parameter.is_leaf, $"{family}: {p.name}");
            });
            Assert.Equal(original.named_parameters().Select(p => p.name).Order(), loaded.named_parameters().Select(p => p.name).Order());
            using var actual = loaded.forward(ids);
            if (dtype == ScalarType.Float32) TensorAssert.BitwiseEqual(expected, actual);
            else TensorAssert.Close(expected, actual, 0.1);
        }
        foreach (var (_, t) in tensors) t.Dispose();
    }

    private sealed class HiddenScale : nn.Module<Tensor, Tensor>
    {
        private readonly Parameter scale;

        public HiddenScale(Device device) : base(nameof(HiddenScale))
        {
            scale = new Parameter(ones(3, device: device));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => x * scale;
    }

    [Fact]
    public void A_parameter_without_a_settable_property_is_named_before_anything_is_read()
    {
        using var model = new HiddenScale(new Device(DeviceType.META));
        SafetensorsWriter.Write(Path.Combine(_folder.FullName, "model.safetensors"), [("scale", ones(3))]);
        using var checkpoint = ShardedCheckpoint.Open(_folder.FullName);
        var error = Assert.Throws<InvalidOperationException>(() => HfWeights.Materialize(model, checkpoint, ScalarType.Float32));
        Assert.Contains("HiddenScale", error.Message);
        Assert.Contains("'scale'", error.Message);
        Assert.Equal(DeviceType.META, model.parameters().Single().device_type);
    }
}
