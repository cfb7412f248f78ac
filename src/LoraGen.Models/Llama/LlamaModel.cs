using LoraGen.Models.Layers;
using LoraGen.Models.Attention;
using LoraGen.Planning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>Embeddings, the decoder layers and the final norm: HF's <c>model.*</c>.</summary>
public sealed partial class LlamaModel : nn.Module<Tensor, Tensor>
{
    private Embedding embed_tokens;
    private ModuleList<LlamaDecoderLayer> layers = new();
    private RmsNorm norm;

    public LlamaModel(ModelConfig config, Device? device = null) : base(nameof(LlamaModel))
    {
        embed_tokens = Embeddings.Create(config.VocabSize, config.HiddenSize, device);
        for (int i = 0; i < config.Layers; i++) layers.Add(new LlamaDecoderLayer(config, i, device));
        norm = new RmsNorm(config.HiddenSize, config.NormEps, device);
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => embed_tokens.weight!;

    /// <param name="ids">(batch, seq) token ids</param>
    /// <returns>(batch, seq, hidden)</returns>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    /// <summary>For tokens that follow those in <paramref name="cache"/>, which is extended by them.</summary>
    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        using var h = DecoderStack.Run(embed_tokens.forward(ids), layers, cache);
        return norm.forward(h);
    }
}
