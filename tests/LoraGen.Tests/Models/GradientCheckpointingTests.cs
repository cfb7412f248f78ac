using LoraGen.Adapters;
using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Training;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>Gradient checkpointing changes memory, never the gradients: the rerun in the backward repeats the forward exactly.</summary>
public class GradientCheckpointingTests
{
    private static Dictionary<string, Tensor> Gradients(bool checkpointed, string method)
    {
        manual_seed(500);
        using var model = new LlamaForCausalLM(new ModelConfig("llama", ModelFamily.Llama, 32, 64, 3, 4, 2, 40, false));
        if (method != "full")
            ModelAdapters.Apply(model, new PeftLoraConfig { R = 4, LoraAlpha = 8, LoraDropout = 0.2, UseDora = method == "dora", TargetModules = ModuleSelector.AllLinear });
        foreach (var layer in ModelAdapters.Layers(model)) Layers.LayerFactory.Randomize(layer, seed: 501);
        if (checkpointed) Assert.Equal(3, GradientCheckpointing.Enable(model));               // the three decoder layers, not their attention
        model.train();
        using var ids = randint(0, 40, [2, 12]);
        manual_seed(502);                                                                  // the same dropout masks in both runs
        using (var loss = CausalLmLoss.Compute(model.forward(ids), ids)) loss.backward();
        return model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.grad!.clone());
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("dora")]
    [InlineData("full")]
    public void Checkpointed_blocks_give_the_gradients_of_plain_ones(string method)
    {
        var plain = Gradients(checkpointed: false, method);
        var checkpointed = Gradients(checkpointed: true, method);
        Assert.Equal(plain.Keys.Order(), checkpointed.Keys.Order());
        foreach (var (name, gradient) in plain)
        {
            Assert.True(gradient.abs().sum().item<float>() > 0, $"{name} got no gradient");
            TensorAssert.Close(gradient, checkpointed[name], 1e-6);
        }
    }
}
