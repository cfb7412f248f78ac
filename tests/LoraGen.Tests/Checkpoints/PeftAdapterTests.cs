using System.Text.Json;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

public sealed class PeftAdapterTests : IDisposable
{
    private static readonly ModelConfig Tiny = new("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 50, false);
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-peft-");

    public void Dispose() => _folder.Delete(recursive: true);

    /// <summary>The same base weights every time (seeded), adapters applied; random adapter weights when asked.</summary>
    private static (LlamaForCausalLM Model, IReadOnlyList<LoraLinear> Layers) Build(long adapterSeed = 0)
    {
        manual_seed(90);
        var model = new LlamaForCausalLM(Tiny);
        var layers = model.ApplyLora();
        if (adapterSeed != 0)
            foreach (var layer in layers) Layers.LayerFactory.Randomize(layer, seed: adapterSeed++);
        return (model, layers);
    }

    [Fact]
    public void Saved_keys_and_config_follow_peft_and_a_reload_gives_the_same_logits()
    {
        var (model, layers) = Build(adapterSeed: 91);
        using (model)
        {
            PeftAdapter.Save(_folder.FullName, layers, baseModel: "tiny-llama");
            using var file = SafetensorsFile.Open(Path.Combine(_folder.FullName, PeftAdapter.WeightsFile));
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", file.Entries.Select(e => e.Name));
            Assert.Contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", file.Entries.Select(e => e.Name));
            Assert.Equal(2 * 7 * 2, file.Entries.Count);            // A and B for 7 Linear layers in each of 2 blocks

            var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder.FullName, PeftAdapter.ConfigFile))).RootElement;
            Assert.Equal("LORA", config.GetProperty("peft_type").GetString());
            Assert.Equal(16, config.GetProperty("r").GetInt32());
            Assert.Equal(32, config.GetProperty("lora_alpha").GetDouble());
            Assert.Equal("tiny-llama", config.GetProperty("base_model_name_or_path").GetString());
            Assert.Equal(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                config.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));

            var (fresh, freshLayers) = Build();
            using (fresh)
            {
                using var ids = randint(0, Tiny.VocabSize, [2, 7]);
                using var before = fresh.forward(ids);
                using var expected = model.forward(ids);
                Assert.False(before.allclose(expected));               // B = 0 in the fresh model
                PeftAdapter.Load(_folder.FullName, freshLayers);
                using var after = fresh.forward(ids);
                TensorAssert.BitwiseEqual(expected, after);
            }
        }
    }

    [Fact]
    public void DoRA_magnitudes_travel_as_lora_magnitude_vector()
    {
        using var layer = new LoraLinear(nn.Linear(8, 6), new LoraConfig(2, 4) { UseDora = true }, "model.layers.0.self_attn.v_proj");
        Layers.LayerFactory.Randomize(layer, seed: 92);
        PeftAdapter.Save(_folder.FullName, [layer]);
        using var file = SafetensorsFile.Open(Path.Combine(_folder.FullName, PeftAdapter.WeightsFile));
        Assert.Equal(new long[] { 6 }, file.Entry("base_model.model.model.layers.0.self_attn.v_proj.lora_magnitude_vector").Shape);

        using var other = new LoraLinear(nn.Linear(8, 6), new LoraConfig(2, 4) { UseDora = true }, "model.layers.0.self_attn.v_proj");
        PeftAdapter.Load(_folder.FullName, [other]);
        TensorAssert.BitwiseEqual(layer.Adapter("default").Magnitude!.weight, other.Adapter("default").Magnitude!.weight);
    }

    [Fact]
    public void Different_ranks_go_to_rank_pattern_and_back()
    {
        using var q = new LoraLinear(nn.Linear(8, 8), new LoraConfig(4, 8), "blocks.0.q_proj");
        using var v = new LoraLinear(nn.Linear(8, 8), new LoraConfig(4, 8), "blocks.0.v_proj");
        using var o = new LoraLinear(nn.Linear(8, 8), new LoraConfig(2, 8), "blocks.0.o_proj");
        PeftAdapter.Save(_folder.FullName, [q, v, o]);
        var config = PeftAdapter.ReadConfig(Path.Combine(_folder.FullName, PeftAdapter.ConfigFile));
        Assert.Equal(4, config.R);
        Assert.Equal(new Dictionary<string, int> { ["blocks.0.o_proj"] = 2 }, config.RankPattern);
        PeftAdapter.Load(_folder.FullName, [q, v, o]);
    }

    [Fact]
    public void A_file_that_does_not_fit_names_missing_and_unexpected_keys_and_changes_nothing()
    {
        var (model, layers) = Build(adapterSeed: 93);
        using (model)
        {
            PeftAdapter.Save(_folder.FullName, layers.Where(l => !l.GetName().EndsWith("down_proj", StringComparison.Ordinal)).ToArray());
            var (fresh, freshLayers) = Build(adapterSeed: 94);
            using (fresh)
            {
                var before = freshLayers.Select(l => l.Adapter("default").B.weight.clone()).ToArray();
                var error = Assert.Throws<CheckpointException>(() => PeftAdapter.Load(_folder.FullName, freshLayers));
                Assert.Contains("adapter_model.safetensors: does not fit the model: missing keys [base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", error.Message);
                Assert.Contains("unexpected keys []", error.Message);
                foreach (var (layer, b) in freshLayers.Zip(before)) TensorAssert.BitwiseEqual(b, layer.Adapter("default").B.weight);
            }
        }
    }

    [Fact]
    public void A_rank_mismatch_is_refused_with_the_layer()
    {
        using var saved = new LoraLinear(nn.Linear(8, 8), new LoraConfig(4, 8), "q_proj");
        PeftAdapter.Save(_folder.FullName, [saved]);
        using var other = new LoraLinear(nn.Linear(8, 8), new LoraConfig(2, 8), "q_proj");
        var error = Assert.Throws<CheckpointException>(() => PeftAdapter.Load(_folder.FullName, [other]));
        Assert.Contains("layer 'q_proj' holds r=2, alpha=8, dora=False, rslora=False but the file has r=4", error.Message);
    }
}
