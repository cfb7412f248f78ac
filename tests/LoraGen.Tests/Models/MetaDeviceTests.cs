using LoraGen.Models.Loading;
using LoraGen.Planning;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>Full-size architectures built on the meta device: shapes and counts without allocating the weights.</summary>
public class MetaDeviceTests
{
    private static readonly Device Meta = new(DeviceType.META);

    [Theory]
    [InlineData("llama-3-8b")]
    [InlineData("qwen2-0.5b")]
    [InlineData("gpt2-xl")]
    [InlineData("phi-2")]
    [InlineData("qwen3-0.6b")]
    [InlineData("gemma-2-2b")]
    [InlineData("gemma-3-1b")]
    [InlineData("phi-3-mini")]
    public void A_full_size_model_on_meta_has_the_planned_parameter_count_and_shapes(string preset)
    {
        var config = ModelPresets.Get(preset);
        using nn.Module model = HfModels.Create(config, Meta);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.All(parameters.Values, p => Assert.Equal(DeviceType.META, p.device_type));
        Assert.Equal(Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, [])).BaseParameters, parameters.Values.Sum(p => p.numel()));
        // The inventory (the planner's description) and the model class agree on every parameter: each Linear's weight
        // (out, in) and bias, each other module's total, and nothing the inventory does not list.
        var inventory = ModelInventory.For(config);
        var covered = new HashSet<string>();
        foreach (var linear in inventory.Linears)
            foreach (var path in linear.InstancePaths())
            {
                Assert.Equal(new[] { linear.Out, linear.In }, parameters[path + ".weight"].shape);   // HF names, (out, in)
                covered.Add(path + ".weight");
                if (!linear.HasBias) continue;
                Assert.Equal(new[] { linear.Out }, parameters[path + ".bias"].shape);
                covered.Add(path + ".bias");
            }
        foreach (var other in inventory.Others)
            foreach (var path in other.InstancePaths())
            {
                var owned = parameters.Where(p => p.Key.StartsWith(path + ".", StringComparison.Ordinal)).ToArray();
                Assert.True(owned.Sum(p => p.Value.numel()) == other.Count, $"{preset}: '{path}' should hold {other.Count} parameters");
                covered.UnionWith(owned.Select(p => p.Key));
            }
        Assert.Equal(parameters.Keys.Order(), covered.Order());
    }
}
