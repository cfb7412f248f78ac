using LoraGen.Models.Gpt2;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>fc2(gelu(fc1(x))), tanh-approximated GELU, both layers with biases.</summary>
public sealed partial class PhiMlp : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> fc1;
    private nn.Module<Tensor, Tensor> fc2;

    public PhiMlp(long hidden, long intermediate, Device? device = null) : base(nameof(PhiMlp))
    {
        fc1 = nn.Linear(hidden, intermediate, device: device);
        fc2 = nn.Linear(intermediate, hidden, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var up = fc1.forward(x);
        using var activated = Gpt2Mlp.TanhGelu(up);
        return fc2.forward(activated);
    }
}
