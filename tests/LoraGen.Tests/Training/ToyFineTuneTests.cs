using LoraGen.Layers;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Tests.Training;

public class ToyFineTuneTests
{
    /// <summary>Two adapted layers with a GELU between them.</summary>
    private sealed class TwoLayerMlp : nn.Module<Tensor, Tensor>
    {
        public readonly LoraLinear Fc1, Fc2;

        public TwoLayerMlp(LoraConfig config) : base(nameof(TwoLayerMlp))
        {
            Fc1 = new LoraLinear(nn.Linear(16, 32), config, "fc1");
            Fc2 = new LoraLinear(nn.Linear(32, 8), config, "fc2");
            register_module("fc1", Fc1);
            register_module("fc2", Fc2);
        }

        public override Tensor forward(Tensor x)
        {
            using var hidden = nn.functional.gelu(Fc1.forward(x));
            return Fc2.forward(hidden);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_adapted_MLP_learns_while_its_base_weights_stay_bitwise_unchanged(bool dora)
    {
        manual_seed(30);
        using var model = new TwoLayerMlp(new LoraConfig(4, 8) { UseDora = dora, Bias = LoraBias.None });
        var baseBefore = model.named_parameters().Where(p => p.name.Contains("base_layer"))
            .ToDictionary(p => p.name, p => p.parameter.clone());
        using var targetMap = randn(16, 8) * 0.5;                     // the task: y = tanh(x·M)

        var trainable = model.parameters().Where(p => p.requires_grad).ToArray();
        Assert.Equal(ParameterSummary.Of(model).Trainable, trainable.Sum(p => p.numel()));
        using var optimizer = optim.AdamW(trainable, lr: 1e-2);

        double Loss(Tensor x)
        {
            using var target = x.matmul(targetMap).tanh();
            using var loss = nn.functional.mse_loss(model.forward(x), target);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            return loss.item<float>();
        }

        manual_seed(31);
        var first = 0.0;
        var last = 0.0;
        for (int step = 0; step < 300; step++)
        {
            using var scope = NewDisposeScope();
            var loss = Loss(randn(64, 16));
            if (step < 10) first += loss / 10;
            if (step >= 290) last += loss / 10;
        }

        Assert.True(last < first / 3, $"loss fell only from {first:F4} to {last:F4}");
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.name.Contains("base_layer")))
            TensorAssert.BitwiseEqual(baseBefore[name], parameter);
    }
}
