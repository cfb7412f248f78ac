using LoraGen.Planning;
using TorchSharp.Modules;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>Parallel block: x + attn(norm(x)) + mlp(norm(x)), one LayerNorm for both.</summary>
public sealed partial class PhiDecoderLayer : CachedBlock
{
    private PhiAttention self_attn;
    private PhiMlp mlp;
    private LayerNorm input_layernorm;

    public PhiDecoderLayer(ModelConfig config, Device? device = null) : base(nameof(PhiDecoderLayer))
    {
        self_attn = new PhiAttention(config, device);
        mlp = new PhiMlp(config.HiddenSize, config.IntermediateSize, device);
        input_layernorm = nn.LayerNorm(config.HiddenSize, config.NormEps, device: device);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var normed = input_layernorm.forward(x);
        using var attended = self_attn.Forward(normed, pass, layer);
        using var mixed = mlp.forward(normed);
        using var sum = x + attended;
        return sum + mixed;
    }
}
