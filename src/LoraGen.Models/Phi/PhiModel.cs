using LoraGen.Planning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>HF's <c>model.*</c> for Phi: embeddings, parallel blocks, the final LayerNorm.</summary>
public sealed partial class PhiModel : nn.Module<Tensor, Tensor>
{
    private Embedding embed_tokens;
    private ModuleList<PhiDecoderLayer> layers = new();
    private LayerNorm final_layernorm;

    public PhiModel(ModelConfig config, double ropeTheta, double eps) : base(nameof(PhiModel))
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        for (int i = 0; i < config.Layers; i++) layers.Add(new PhiDecoderLayer(config, ropeTheta, eps));
        final_layernorm = nn.LayerNorm(config.HiddenSize, eps);
        RegisterComponents();
    }

    /// <param name="ids">(batch, seq)</param>
    public override Tensor forward(Tensor ids)
    {
        var h = embed_tokens.forward(ids);
        foreach (var layer in layers)
        {
            var next = layer.forward(h);
            h.Dispose();
            h = next;
        }
        using (h) return final_layernorm.forward(h);
    }
}
