using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi3;

/// <summary>Pre-norm block as Llama's: x + attn(norm(x)), then + mlp(norm(·)), with Phi-3's fused projections.</summary>
public sealed partial class Phi3DecoderLayer : CachedBlock
{
    private Phi3Attention self_attn;
    private Phi3Mlp mlp;
    private RmsNorm input_layernorm;
    private RmsNorm post_attention_layernorm;

    public Phi3DecoderLayer(ModelConfig config, Device? device = null) : base(nameof(Phi3DecoderLayer))
    {
        self_attn = new Phi3Attention(config, device);
        mlp = new Phi3Mlp(config.HiddenSize, config.IntermediateSize, device);
        input_layernorm = new RmsNorm(config.HiddenSize, config.NormEps, device);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.NormEps, device);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.Forward(input_layernorm.forward(x), pass, layer);     // (b, s, hidden)
        return (h + mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}
