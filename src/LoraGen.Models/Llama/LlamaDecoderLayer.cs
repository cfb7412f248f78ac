using LoraGen.Models.Attention;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>Pre-norm block: x + attn(norm(x)), then + mlp(norm(·)).</summary>
public sealed partial class LlamaDecoderLayer : CachedBlock
{
    private LlamaAttention self_attn;
    private LlamaMlp mlp;
    private RmsNorm input_layernorm;
    private RmsNorm post_attention_layernorm;

    /// <param name="layer">This layer's index (its sliding window and rotary base).</param>
    public LlamaDecoderLayer(ModelConfig config, int layer, Device? device = null) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(config, layer, device);
        mlp = new LlamaMlp(config.HiddenSize, config.IntermediateSize, config.MlpBias, device);
        input_layernorm = new RmsNorm(config.HiddenSize, config.NormEps, device);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.NormEps, device);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var normed = input_layernorm.forward(x);
        using var attended = self_attn.Forward(normed, pass, layer);
        using var h = x + attended;
        using var normed2 = post_attention_layernorm.forward(h);
        using var mixed = mlp.forward(normed2);
        return h + mixed;
    }
}
