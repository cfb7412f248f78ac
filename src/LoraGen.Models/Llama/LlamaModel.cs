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

    public LlamaModel(ModelConfig config, double ropeTheta, double normEps) : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        for (int i = 0; i < config.Layers; i++) layers.Add(new LlamaDecoderLayer(config, ropeTheta, normEps));
        norm = new RmsNorm(config.HiddenSize, normEps);
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => embed_tokens.weight!;

    /// <param name="ids">(batch, seq) token ids</param>
    /// <returns>(batch, seq, hidden)</returns>
    public override Tensor forward(Tensor ids)
    {
        var h = embed_tokens.forward(ids);
        foreach (var layer in layers)
        {
            var next = layer.forward(h);
            h.Dispose();
            h = next;
        }
        using (h) return norm.forward(h);
    }
}
