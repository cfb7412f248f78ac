using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Gemma;

/// <summary>Gemma's sandwich block: x + norm(attn(norm(x))), then + norm(mlp(norm(·))), every norm Gemma's (1 + w).</summary>
public sealed partial class GemmaDecoderLayer : CachedBlock
{
    private LlamaAttention self_attn;
    private LlamaMlp mlp;
    private RmsNorm input_layernorm;
    private RmsNorm post_attention_layernorm;
    private RmsNorm pre_feedforward_layernorm;
    private RmsNorm post_feedforward_layernorm;

    /// <param name="layer">This layer's index: sliding or global, and its rotary base.</param>
    public GemmaDecoderLayer(ModelConfig config, int layer, Device? device = null) : base(nameof(GemmaDecoderLayer))
    {
        self_attn = new LlamaAttention(config, layer, device);
        mlp = new LlamaMlp(config.HiddenSize, config.IntermediateSize, device: device, activation: LlamaMlp.TanhGelu);   // GeGLU
        input_layernorm = RmsNorm.Gemma(config.HiddenSize, config.NormEps, device);
        post_attention_layernorm = RmsNorm.Gemma(config.HiddenSize, config.NormEps, device);
        pre_feedforward_layernorm = RmsNorm.Gemma(config.HiddenSize, config.NormEps, device);
        post_feedforward_layernorm = RmsNorm.Gemma(config.HiddenSize, config.NormEps, device);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        var attended = post_attention_layernorm.forward(self_attn.Forward(input_layernorm.forward(x), pass, layer));
        var h = x + attended;                                                       // (b, s, hidden)
        var mixed = post_feedforward_layernorm.forward(mlp.forward(pre_feedforward_layernorm.forward(h)));
        return (h + mixed).MoveToOuterDisposeScope();
    }
}
