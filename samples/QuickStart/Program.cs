// The smallest complete LoRA program: mark the layers, apply, train the adapters, merge.
using LoraGen;
using LoraGen.Planning;
using static TorchSharp.torch;

manual_seed(0);
using var model = new TwoLayerNet();

// A new task: the pretrained net's answers plus a rank-2 linear change.
using var inputs = randn(2048, 256);
using var change = randn(128, 2).matmul(randn(2, 256)) * 0.05;   // (out, in)
Tensor targets;
using (no_grad()) targets = model.forward(inputs) + inputs.matmul(change.t());

model.ApplyLora();                                  // generated: wraps fc1 and fc2, freezes the rest
Console.WriteLine(ParameterSummary.Of(model));      // trainable params: 7,168 || all params: 105,856 || ...

var optimizer = optim.AdamW(model.TrainableParameters(), lr: 1e-2);
for (int step = 0; step <= 300; step++)
{
    using var scope = NewDisposeScope();
    var rows = randint(0, inputs.shape[0], [64]);
    var loss = nn.functional.mse_loss(model.forward(inputs[rows]), targets[rows]);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step % 100 == 0) Console.WriteLine($"step {step}: loss {loss.item<float>():F6}");
}

// Fold the adapters into the weights for serving: same outputs, no extra cost per token.
using var probe = randn(8, 256);
using var before = model.forward(probe);
model.MergeLora(safe: true);
using var after = model.forward(probe);
Console.WriteLine($"merged vs unmerged max |diff|: {(after - before).abs().max().item<float>():E2}");

[LoraTarget(r: 8, alpha: 16, Modules = ["fc1", "fc2"])]
sealed partial class TwoLayerNet : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> fc1 = nn.Linear(256, 256);
    private nn.Module<Tensor, Tensor> fc2 = nn.Linear(256, 128);

    public TwoLayerNet() : base(nameof(TwoLayerNet)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        using var hidden = nn.functional.relu(fc1.forward(x));
        return fc2.forward(hidden);
    }
}
