using System.Diagnostics;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Layers;
using LoraGen.Planning;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LoraGen.Tests.Adapters;

// A model that declares no adapter of its own: [LoraModel] gives it the run-time API.
[LoraModel]
public sealed partial class RuntimeClassifier : Module<Tensor, Tensor>
{
    private TorchSharp.Modules.ModuleList<RuntimeBlock> layers = new(new RuntimeBlock(), new RuntimeBlock());
    private Module<Tensor, Tensor> score = Linear(16, 3);

    public RuntimeClassifier() : base(nameof(RuntimeClassifier)) => RegisterComponents();

    /// <param name="x">(batch, 16)</param>
    /// <returns>(batch, 3)</returns>
    public override Tensor forward(Tensor x)
    {
        using var first = layers[0].forward(x);
        using var second = layers[1].forward(first);
        return score.forward(second);
    }
}

public sealed partial class RuntimeBlock : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> fc = Linear(16, 16);
    private Module<Tensor, Tensor> gate = Linear(16, 16);

    public RuntimeBlock() : base(nameof(RuntimeBlock)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        using var a = fc.forward(x);
        using var b = gate.forward(x);
        using var g = b.sigmoid();
        return (a * g).tanh();
    }
}

public sealed class ModelAdapterTests() : TemporaryFolder("loragen-model-adapters-")
{
        /// <summary>Every parameter name in order, and the parameter count, as one comparable value.</summary>
    private static (string Names, long Count) Shape(Module model) =>
        (string.Join(",", model.named_parameters().Select(p => p.name)), model.parameters().Sum(p => p.numel()));

    [Fact]
    public void A_model_marked_LoraModel_takes_run_time_adapters_and_switches_between_two_with_different_ranks_and_targets()
    {
        using var model = RuntimeModels.Classifier(11);
        using var x = RuntimeModels.Probe(12);
        using var baseOutput = model.forward(x);
        model.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.Names("fc") });
        model.ApplyLora(new PeftLoraConfig { R = 2, LoraAlpha = 2, TargetModules = ModuleSelector.Pattern(@"layers\.1\.gate|score") }, "code");
        RuntimeModels.Randomize(model, "default", 20);
        RuntimeModels.Randomize(model, "code", 30);

        Assert.Equal(["default"], model.ActiveAdapters);
        Assert.Equal(["layers.0.fc.lora_A.default.weight", "layers.0.fc.lora_B.default.weight", "layers.1.fc.lora_A.default.weight", "layers.1.fc.lora_B.default.weight"],
            model.TrainableParameters().Select(p => model.named_parameters().First(n => ReferenceEquals(n.parameter, p)).name).Order());
        using var first = model.forward(x);

        model.SetActiveAdapters("code");
        Assert.Equal(["code"], model.ActiveAdapters);
        // layers.1.gate: r·(in + out) = 2·(16 + 16); score: 2·(16 + 3).
        Assert.Equal(2 * (16 + 16) + 2 * (16 + 3), model.TrainableParameters().Sum(p => p.numel()));
        using var second = model.forward(x);
        Assert.False(first.allclose(second));

        // The same output as merging each update into a plain copy by hand.
        using var reference = RuntimeModels.Classifier(11);
        var layers = ModelAdapters.Layers(model).Where(l => l.AdapterNames.Contains("code")).ToArray();
        Assert.Equal(["layers.1.gate", "score"], layers.Select(l => l.GetName()).Order());
        using (no_grad())
        {
            var parameters = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var layer in layers)
            {
                var adapter = layer.Adapter("code");
                parameters[layer.GetName() + ".weight"].add_(adapter.B.weight.matmul(adapter.A.weight) * 1.0);
            }
        }
        using var expected = reference.forward(x);
        TensorAssert.Close(expected, second, 1e-5);

        using (model.DisableAdapters())
        {
            using var disabled = model.forward(x);
            TensorAssert.Close(baseOutput, disabled, 1e-6);
        }
        using var again = model.forward(x);
        TensorAssert.BitwiseEqual(second, again);
    }

    [Fact]
    public void MergeAndUnload_and_Unload_leave_the_plain_base_names_and_count()
    {
        using var plain = RuntimeModels.Classifier(11);
        var shape = Shape(plain);
        using var x = RuntimeModels.Probe(12);
        using var baseOutput = plain.forward(x);

        using var merged = RuntimeModels.Classifier(11);
        merged.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.AllLinear });
        RuntimeModels.Randomize(merged, "default", 40);
        using var adapted = merged.forward(x);
        merged.MergeAndUnload();
        Assert.Equal(shape, Shape(merged));
        Assert.Empty(ModelAdapters.Layers(merged));
        using var afterMerge = merged.forward(x);
        TensorAssert.Close(adapted, afterMerge, 1e-5);

        using var unloaded = RuntimeModels.Classifier(11);
        unloaded.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.AllLinear, ModulesToSave = ["score"] });
        RuntimeModels.Randomize(unloaded, "default", 50);
        unloaded.MergeLora();
        unloaded.Unload();
        Assert.Equal(shape, Shape(unloaded));
        using var afterUnload = unloaded.forward(x);
        TensorAssert.Close(baseOutput, afterUnload, 1e-6);
    }

    [Fact]
    public void Deleting_the_active_adapter_activates_the_first_remaining_one_and_a_layer_left_without_adapters_is_plain_again()
    {
        using var model = RuntimeModels.Classifier(11);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc") }, "b");
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc", "score") }, "a");
        model.SetActiveAdapters("b");
        model.DeleteAdapter("b");
        Assert.Equal(["a"], model.ActiveAdapters);
        model.DeleteAdapter("a");
        Assert.Empty(ModelAdapters.Layers(model));
        using var plain = RuntimeModels.Classifier(11);
        Assert.Equal(Shape(plain), Shape(model));
        var error = Assert.Throws<KeyNotFoundException>(() => model.DeleteAdapter("a"));
        Assert.Contains("has no adapter 'a'", error.Message);
    }

    [Fact]
    public void A_merged_adapter_cannot_be_deleted_and_the_model_is_unchanged()
    {
        using var model = RuntimeModels.Classifier(11);
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc") });
        model.MergeLora();
        var error = Assert.Throws<InvalidOperationException>(() => model.DeleteAdapter("default"));
        Assert.Contains("Cannot delete adapter 'default' while it is merged (in layers.0.fc, layers.1.fc)", error.Message);
        Assert.True(model.IsLoraMerged);
    }

    [Fact]
    public void Save_then_load_in_a_fresh_process_gives_the_same_logits()
    {
        using var model = PeftFixture.BuildLlama();
        model.ApplyLora(new PeftLoraConfig
        {
            R = 4, LoraAlpha = 8, UseDora = true, TargetModules = ModuleSelector.Names("q_proj", "v_proj", "down_proj"),
            RankPattern = new Dictionary<string, int> { ["down_proj"] = 2 }, ModulesToSave = ["lm_head"],
        });
        RuntimeModels.Randomize(model, "default", 60);
        using (no_grad()) model.named_parameters().First(p => p.name == "lm_head.weight").parameter.mul_(1.5);
        model.eval();
        using var ids = PeftFixture.Ids(50);
        using var expected = model.forward(ids);
        string adapter = Path.Combine(Folder.FullName, "adapter"), logits = Path.Combine(Folder.FullName, "logits.safetensors");
        PeftAdapter.Save(model, adapter, baseModel: "tiny");

        var (exit, output) = TestHost.Run(TimeSpan.FromSeconds(60), "logits", adapter, logits);
        Assert.True(exit == 0, output);
        using var file = SafetensorsFile.Open(logits);
        using var actual = file.Read("logits");
        TensorAssert.Close(expected, actual, 1e-6);
    }
}

/// <summary>Runs tests/LoraGen.TestHost, built beside the tests, as a child process.</summary>
internal static class TestHost
{
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "LoraGen.TestHost.exe" : "LoraGen.TestHost"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return start;
    }

    public static (int Exit, string Output) Run(TimeSpan timeout, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"TestHost {string.Join(' ', args)} ran past {timeout}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
