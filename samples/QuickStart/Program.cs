// The smallest complete LoRA program: adapt one frozen Linear layer to a new task, then merge.
using LoraGen.Layers;
using LoraGen.Planning;
using static TorchSharp.torch;

manual_seed(0);
var pretrained = nn.Linear(256, 256);
var layer = new LoraLinear(pretrained, new LoraConfig(R: 8, Alpha: 16), name: "proj");
Console.WriteLine(ParameterSummary.Of(layer));   // trainable params: 4,096 || all params: 69,888 || ...

// The new task: the pretrained map plus a rank-2 change, which LoRA (r = 8) can represent exactly.
using var change = randn(256, 2).matmul(randn(2, 256)) * 0.05;
var optimizer = optim.AdamW(layer.parameters().Where(p => p.requires_grad), lr: 1e-2);
for (int step = 0; step <= 300; step++)
{
    using var scope = NewDisposeScope();
    var x = randn(64, 256);
    var target = pretrained.forward(x).detach() + x.matmul(change.t());
    var loss = nn.functional.mse_loss(layer.forward(x), target);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step % 100 == 0) Console.WriteLine($"step {step}: loss {loss.item<float>():F6}");
}

// Fold the adapter into the weight for serving: same outputs, no extra cost.
using var probe = randn(8, 256);
using var before = layer.forward(probe);
layer.Merge(safe: true);
using var after = layer.forward(probe);
Console.WriteLine($"merged vs unmerged max |diff|: {(after - before).abs().max().item<float>():E2}");
