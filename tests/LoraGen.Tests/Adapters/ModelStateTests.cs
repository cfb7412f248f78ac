using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>State that must stay consistent across switching, merging, deleting, moving and saving.</summary>
public sealed class ModelStateTests() : TemporaryFolder("loragen-model-state-")
{
        [Fact]
    public void Choosing_another_adapter_on_a_merged_model_unmerges_first_so_only_the_chosen_one_computes()
    {
        using var model = RuntimeModels.Classifier(31);
        model.ApplyLora(new PeftLoraConfig { R = 2, TargetModules = ModuleSelector.Names("fc") }, "a");
        model.ApplyLora(new PeftLoraConfig { R = 2, TargetModules = ModuleSelector.Names("fc") }, "b");
        RuntimeModels.Randomize(model, "a", 33);
        RuntimeModels.Randomize(model, "b", 43);
        using var x = RuntimeModels.Probe(32);
        model.SetActiveAdapters("b");
        using var onlyB = model.forward(x);
        model.SetActiveAdapters("a");
        model.MergeLora();
        Assert.True(model.IsLoraMerged);

        model.SetActiveAdapters("b");
        Assert.False(model.IsLoraMerged);
        Assert.All(ModelAdapters.Layers(model), l => Assert.Empty(l.MergedAdapters));
        using var after = model.forward(x);
        TensorAssert.Close(onlyB, after, 1e-5);
        model.MergeAndUnload();                               // merges exactly "b"
        using var merged = model.forward(x);
        TensorAssert.Close(onlyB, merged, 1e-5);
    }

    [Fact]
    public void Deleting_one_adapter_keeps_the_trained_modules_to_save_of_the_active_one()
    {
        using var model = RuntimeModels.Classifier(31);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc"), ModulesToSave = ["score"] }, "x");
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc"), ModulesToSave = ["score"] }, "y");
        model.SetActiveAdapters("y");
        var score = model.named_parameters().First(p => p.name == "score.weight").parameter;
        using (no_grad()) score.add_(1.0);                    // "training" y's copy
        using var trained = score.clone();
        model.DeleteAdapter("x");
        Assert.Equal(["y"], model.ActiveAdapters);
        TensorAssert.BitwiseEqual(trained, model.named_parameters().First(p => p.name == "score.weight").parameter);
    }

    [Fact]
    public void A_DoRA_merge_made_inside_a_dispose_scope_still_unmerges()
    {
        using var layer = new LoraLinear(Layers.LayerFactory.Base(16, 12), new LoraConfig(4, 8) { UseDora = true }, "fc");
        Layers.LayerFactory.Randomize(layer);
        using var original = layer.BaseLayer.weight.clone();
        using (NewDisposeScope()) layer.Merge();
        GC.Collect();
        layer.Unmerge();
        TensorAssert.Close(original, layer.BaseLayer.weight, 1e-5);
    }

    [Fact]
    public void A_safe_merge_into_fp16_refuses_an_update_that_overflows_fp16()
    {
        manual_seed(34);
        var dense = nn.Linear(8, 8);
        dense.to(ScalarType.Float16);
        using var layer = new LoraLinear(dense, new LoraConfig(2, 2), "fc");
        using (no_grad())
        {
            layer.Adapter("default").A.weight.fill_(300);      // ΔW = B·A = 2·300·300 = 180,000 > 65,504, finite in fp32
            layer.Adapter("default").B.weight.fill_(300);
        }
        using var before = layer.BaseLayer.weight.clone();
        var error = Assert.Throws<InvalidOperationException>(() => layer.Merge(safe: true));
        Assert.Contains("non-finite", error.Message);
        TensorAssert.BitwiseEqual(before, layer.BaseLayer.weight);
    }

    [Fact]
    public void Nothing_changes_the_adapters_while_they_are_disabled()
    {
        using var layer = new LoraLinear(Layers.LayerFactory.Base(8, 8), new LoraConfig(2, 2), "fc");
        layer.AddAdapter("other", new LoraConfig(2, 2));
        using (layer.DisableAdapters())
        {
            Assert.Throws<InvalidOperationException>(() => layer.DeleteAdapter("other"));
            Assert.Throws<InvalidOperationException>(() => layer.AddAdapter("third", new LoraConfig(2, 2)));
            Assert.Throws<InvalidOperationException>(() => layer.QuantizeBase());
        }
        Assert.Equal(["default", "other"], layer.AdapterNames);
    }

    [Fact]
    public void Adapter_names_with_a_dot_are_refused_before_anything_changes()
    {
        using var model = RuntimeModels.Classifier(31);
        var error = Assert.Throws<ArgumentException>(() => model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc") }, "v1.2"));
        Assert.Contains("'v1.2' must not contain '.'", error.Message);
        Assert.Empty(ModelAdapters.Layers(model));
    }

    [Fact]
    public void A_model_with_DoRA_and_4bit_layers_can_change_dtype_with_Module_to()
    {
        using var model = RuntimeModels.Classifier(31);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc", "gate"), UseDora = true, ModulesToSave = ["score"] });
        model.QuantizeBase();
        RuntimeModels.Randomize(model, "default", 35);
        using var x = RuntimeModels.Probe(32);
        using var fp32 = model.forward(x);
        model.to(ScalarType.Float64);
        using var x64 = x.to(ScalarType.Float64);
        using var fp64 = model.forward(x64);
        Assert.Equal(ScalarType.Float64, fp64.dtype);
        TensorAssert.Close(fp32, fp64, 1e-4);
        Assert.All(ModelAdapters.Layers(model), l => Assert.Equal(ScalarType.Float64, l.Base.DType));
    }

    [Fact]
    public void QuantizeBase_after_ApplyLora_leaves_modules_to_save_dense_and_keeps_what_trains()
    {
        using var model = RuntimeModels.Classifier(31);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc"), ModulesToSave = ["score"], Bias = LoraBias.All });
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToArray();
        Assert.Equal(4, model.QuantizeBase());                 // fc (under its adapter) and gate in both blocks; score is saved in full
        Assert.Equal(ScalarType.Float32, model.named_parameters().First(p => p.name == "score.weight").parameter.dtype);
        Assert.Equal(trainable, model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
    }

    [Fact]
    public void Bias_all_with_a_classifier_saved_in_full_writes_its_bias_once_and_reloads()
    {
        using var model = RuntimeModels.Classifier(31);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc"), ModulesToSave = ["score"], Bias = LoraBias.All });
        RuntimeModels.Randomize(model, "default", 36);
        using (no_grad()) model.named_parameters().First(p => p.name == "score.bias").parameter.add_(0.5);
        using var x = RuntimeModels.Probe(32);
        using var expected = model.forward(x);
        PeftAdapter.Save(model, Folder.FullName);
        using var fresh = RuntimeModels.Classifier(31);
        PeftAdapter.Load(fresh, Folder.FullName);
        using var actual = fresh.forward(x);
        TensorAssert.BitwiseEqual(expected, actual);
    }

    [Fact]
    public void Saving_into_a_folder_keeps_the_files_other_tools_put_there()
    {
        using var model = RuntimeModels.Classifier(31);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc") });
        string folder = Path.Combine(Folder.FullName, "adapter");
        Directory.CreateDirectory(Path.Combine(folder, "other_adapter"));
        File.WriteAllText(Path.Combine(folder, "README.md"), "model card");
        File.WriteAllText(Path.Combine(folder, "other_adapter", "adapter_config.json"), "{}");
        PeftAdapter.Save(model, folder);
        PeftAdapter.Save(model, folder);
        Assert.Equal("model card", File.ReadAllText(Path.Combine(folder, "README.md")));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(folder, "other_adapter", "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(folder, PeftAdapter.WeightsFile)));
    }
}
