using LoraGen.Models.Layers;
using LoraGen.Planning;
using TorchSharp.Modules;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>HF's <c>model.*</c> for Phi: embeddings, parallel blocks, the final LayerNorm.</summary>
public sealed partial class PhiModel : nn.Module<Tensor, Tensor>
{
    private Embedding embed_tokens;
    private ModuleList<PhiDecoderLayer> layers = new();
    private LayerNorm final_layernorm;

    public PhiModel(ModelConfig config, Device? device = null) : base(nameof(PhiModel))
    {
        embed_tokens = Embeddings.Create(config.VocabSize, config.HiddenSize, device);
        for (int i = 0; i < config.Layers; i++) layers.Add(new PhiDecoderLayer(config, device));
        final_layernorm = nn.LayerNorm(config.HiddenSize, config.NormEps, device: device);
        RegisterComponents();
    }

    /// <param name="ids">(batch, seq)</param>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    /// <summary>For tokens that follow those in <paramref name="cache"/>, which is extended by them.</summary>
    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        using var h = DecoderStack.Run(embed_tokens.forward(ids), layers, cache);
        return final_layernorm.forward(h);
    }
}
