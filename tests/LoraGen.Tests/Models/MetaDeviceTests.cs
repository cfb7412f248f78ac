using LoraGen.Models.Gpt2;
using LoraGen.Models.Llama;
using LoraGen.Models.Phi;
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
    public void A_full_size_model_on_meta_has_the_planned_parameter_count_and_shapes(string preset)
    {
        var config = ModelPresets.Get(preset);
        using nn.Module model = config.Family switch
        {
            ModelFamily.Gpt2 => new Gpt2LMHeadModel(config, device: Meta),
            ModelFamily.Phi => new PhiForCausalLM(config, device: Meta),
            _ => new LlamaForCausalLM(config, device: Meta),
        };
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.All(parameters.Values, p => Assert.Equal(DeviceType.META, p.device_type));
        Assert.Equal(Planner.Plan(new PlanRequest(config, TrainingMethod.Full, 0, 1, [])).BaseParameters, parameters.Values.Sum(p => p.numel()));
        foreach (var linear in ModelInventory.For(config).Linears)
            foreach (var path in linear.InstancePaths())
                Assert.Equal(new[] { linear.Out, linear.In }, parameters[path + ".weight"].shape);   // HF names, (out, in)
    }
}
