using LoraGen.Planning;
using TorchSharp.Modules;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Gpt2;

/// <summary>x + attn(ln_1(x)), then + mlp(ln_2(·)).</summary>
public sealed partial class Gpt2Block : CachedBlock
{
    private LayerNorm ln_1;
    private Gpt2Attention attn;
    private LayerNorm ln_2;
    private Gpt2Mlp mlp;

    public Gpt2Block(ModelConfig config, Device? device = null) : base(nameof(Gpt2Block))
    {
        ln_1 = nn.LayerNorm(config.HiddenSize, config.NormEps, device: device);
        attn = new Gpt2Attention(config, device);
        ln_2 = nn.LayerNorm(config.HiddenSize, config.NormEps, device: device);
        mlp = new Gpt2Mlp(config.HiddenSize, config.IntermediateSize, device);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var normed = ln_1.forward(x);
        using var attended = attn.Forward(normed, pass, layer);
        using var h = x + attended;
        using var normed2 = ln_2.forward(h);
        using var mixed = mlp.forward(normed2);
        return h + mixed;
    }
}
