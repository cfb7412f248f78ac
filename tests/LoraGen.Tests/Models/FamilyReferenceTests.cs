using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Loading;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>
/// The Llama-layout families (Llama, Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3 text, Phi-3) loaded from checkpoints written in transformers' layout by the test,
/// against the family's forward pass recomputed independently (<see cref="TinyHfFamily.Reference"/>).
/// </summary>
public sealed class FamilyReferenceTests(ITestOutputHelper output) : TemporaryFolder("loragen-families-")
{
    public static TheoryData<string> Families => new() { "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "phi3" };

    // Two sequences of 10 tokens: longer than every sliding window, so windows and layer types matter.
    private static readonly long[][] Sequences = [[3, 17, 5, 9, 41, 0, 22, 8, 30, 12], [49, 1, 1, 7, 19, 33, 2, 45, 11, 6]];

    private static Tensor ReferenceLogits(TinyHfFamily family, IReadOnlyDictionary<string, Tensor> weights) =>
        stack(Sequences.Select(ids => family.Reference(weights, ids)).ToArray());   // (2, 10, vocab)

    [Theory]
    [MemberData(nameof(Families))]
    public void Logits_match_the_transformers_forward_in_fp32_and_in_bf16(string name)
    {
        var family = TinyHfFamily.All[name];
        var weights = family.Write(Folder.FullName, seed: 300);
        using var expected = ReferenceLogits(family, weights);
        using var ids = tensor(Sequences.SelectMany(s => s).ToArray()).view(2, -1);
        using var _ = no_grad();

        using var fp32 = HfModels.Load(Folder.FullName);
        using var logits = fp32.forward(ids);
        output.WriteLine($"{name}: fp32 max |diff| {MaxDiff(expected, logits):E2}, logits up to {expected.abs().max().item<double>():F2}");
        TensorAssert.Close(expected, logits, 1e-4);

        using var bf16 = HfModels.Load(Folder.FullName, ScalarType.BFloat16);
        using var logits16 = bf16.forward(ids);
        Assert.Equal(ScalarType.BFloat16, logits16.dtype);
        double largest = expected.abs().max().item<double>();
        output.WriteLine($"{name}: bf16 max |diff| {MaxDiff(expected, logits16):E2} ({MaxDiff(expected, logits16) / largest:P1} of the largest logit)");
        // bf16 keeps 8 significant bits (0.4% a rounding), and every matmul, norm and rotation of 3 layers rounds:
        // measured 0.5% to 4.1% of the largest logit over these seven families.
        TensorAssert.Close(expected, logits16, 0.06 * largest);
        foreach (var w in weights.Values) w.Dispose();
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void A_merged_model_exports_the_keys_and_shapes_transformers_loads(string name)
    {
        var family = TinyHfFamily.All[name];
        var weights = family.Write(Folder.FullName, seed: 301);
        foreach (var w in weights.Values) w.Dispose();
        using var model = HfModels.Load(Folder.FullName);
        var layers = ModelAdapters.Apply(model, new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.AllLinear });
        // peft's all-linear: every Linear but lm_head; Phi-3's fused layers are adapted whole.
        string[] expectedTargets = family.Fused ? ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"] : ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
        var adaptedPaths = model.named_modules().Where(m => m.module is LoraGen.Layers.LoraLinear).Select(m => m.name).ToArray();
        Assert.Equal(expectedTargets.Order(), adaptedPaths.Select(path => path.Split('.')[^1]).Distinct().Order());
        Assert.Equal(TinyHfFamily.Layers * expectedTargets.Length, adaptedPaths.Length);
        Assert.Equal(adaptedPaths.Length, layers.Count);
        foreach (var layer in layers) Layers.LayerFactory.Randomize(layer, seed: 302);
        using var ids = tensor(Sequences[0]).unsqueeze(0);
        using var adapted = model.forward(ids);
        ModelAdapters.Merge(model);

        string exported = Directory.CreateDirectory(Path.Combine(Folder.FullName, "merged")).FullName;
        HfModels.Export(model, Path.Combine(exported, "model.safetensors"), ScalarType.Float32);
        using (var file = SafetensorsFile.Open(Path.Combine(exported, "model.safetensors")))
        {
            var written = file.Entries.ToDictionary(e => e.Name, e => e.Shape);
            var layout = family.Keys().ToDictionary(k => k.Key, k => k.Shape);
            Assert.Equal(layout.Keys.Order(), written.Keys.Order());                       // Gemma: no lm_head (tied)
            foreach (var (key, shape) in layout) Assert.Equal(shape, written[key]);
        }
        File.Copy(Path.Combine(Folder.FullName, "config.json"), Path.Combine(exported, "config.json"));
        using var reloaded = HfModels.Load(exported);
        using var logits = reloaded.forward(ids);
        TensorAssert.Close(adapted, logits, 5e-4);                                         // fp32 merge: W + s·B·A rounded once
    }

    private static double MaxDiff(Tensor expected, Tensor actual)
    {
        using var diff = (expected - actual.to(float64)).abs().max();
        return diff.item<double>();
    }
}
