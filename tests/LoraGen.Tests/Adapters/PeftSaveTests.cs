using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>What <see cref="PeftAdapter.Save"/> writes: peft's keys and config, and a reload that gives the same logits.</summary>
public sealed class PeftSaveTests() : TemporaryFolder("loragen-peft-save-")
{
        [Theory]
    [InlineData(LoraBias.All)]
    [InlineData(LoraBias.LoraOnly)]
    public void Trained_biases_are_saved_under_peft_keys_and_reload(LoraBias bias)
    {
        using var model = PeftFixture.BuildGpt2();
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("c_attn"), Bias = bias, FanInFanOut = true });
        // "all": 6 biases per block (ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj) and ln_f; "lora_only": the two c_attn biases.
        Assert.Equal(bias == LoraBias.All ? 6 * 2 + 1 : 2, model.TrainableParameters().Count(p => p.shape.Length == 1));
        manual_seed(20);
        using (no_grad())
            foreach (var parameter in model.TrainableParameters()) parameter.add_(randn(parameter.shape) * 0.1);
        model.eval();
        using var ids = PeftFixture.Ids(50);
        using var expected = model.forward(ids);
        PeftAdapter.Save(model, Folder.FullName);

        using var file = SafetensorsFile.Open(Path.Combine(Folder.FullName, PeftAdapter.WeightsFile));
        var keys = file.Entries.Select(e => e.Name).ToHashSet();
        Assert.Contains("base_model.model.transformer.h.0.attn.c_attn.base_layer.bias", keys);
        Assert.Equal(bias == LoraBias.All, keys.Contains("base_model.model.transformer.h.0.mlp.c_fc.bias"));
        Assert.Equal(bias == LoraBias.All, keys.Contains("base_model.model.transformer.ln_f.bias"));

        using var fresh = PeftFixture.BuildGpt2();
        PeftAdapter.Load(fresh, Folder.FullName);
        Assert.True(ModelAdapters.ConfigOf(fresh, "default")!.FanInFanOut);
        fresh.eval();
        using var actual = fresh.forward(ids);
        TensorAssert.BitwiseEqual(expected, actual);
    }

    [Fact]
    public void An_adapter_declared_at_compile_time_is_described_as_peft_would_write_it()
    {
        using var model = PeftFixture.BuildLlama();            // [LoraTarget(r: 16, alpha: 32, Strategy = AllLinear)]
        model.ApplyLora();
        PeftAdapter.Save(model, Folder.FullName, baseModel: "tiny");
        var config = AdapterConfigFile.Read(Path.Combine(Folder.FullName, PeftAdapter.ConfigFile));
        Assert.Equal((16, 32.0, "tiny"), (config.R, config.LoraAlpha, config.BaseModelNameOrPath));
        Assert.Equal(ModuleSelector.Names("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), config.TargetModules);
        using var file = SafetensorsFile.Open(Path.Combine(Folder.FullName, PeftAdapter.WeightsFile));
        Assert.Equal(2 * 7 * 2, file.Entries.Count);
        Assert.Contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", file.Entries.Select(e => e.Name));
    }

    [Fact]
    public void Non_finite_tensors_load_when_asked_for_debugging()
    {
        using var model = PeftFixture.BuildLlama();
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("q_proj") });
        using (no_grad()) ModelAdapters.Layers(model)[0].Adapter("default").B.weight.fill_(float.PositiveInfinity);
        PeftAdapter.Save(model, Folder.FullName);
        using var fresh = PeftFixture.BuildLlama();
        Assert.Throws<CheckpointException>(() => PeftAdapter.Load(fresh, Folder.FullName));
        var layers = PeftAdapter.Load(fresh, Folder.FullName, allowNonFinite: true);
        Assert.True(layers[0].Adapter("default").B.weight.isinf().all().item<bool>());
    }
}
