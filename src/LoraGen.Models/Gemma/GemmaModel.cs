using LoraGen.Models.Layers;
using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Gemma;

/// <summary>HF's <c>model.*</c> for Gemma 2 and 3: embeddings scaled by √hidden, the sandwich blocks, the final (1 + w) norm.</summary>
public sealed partial class GemmaModel : nn.Module<Tensor, Tensor>
{
    private Embedding embed_tokens;
    private ModuleList<GemmaDecoderLayer> layers = new();
    private RmsNorm norm;
    private readonly ModelConfig _config;

    public GemmaModel(ModelConfig config, Device? device = null) : base(nameof(GemmaModel))
    {
        embed_tokens = Embeddings.Create(config.VocabSize, config.HiddenSize, device);
        for (int i = 0; i < config.Layers; i++) layers.Add(new GemmaDecoderLayer(config, i, device));
        norm = RmsNorm.Gemma(config.HiddenSize, config.NormEps, device);
        _config = config;
        RegisterComponents();
    }

    public Parameter EmbeddingWeight => embed_tokens.weight!;

    /// <param name="ids">(batch, seq) token ids</param>
    /// <returns>(batch, seq, hidden)</returns>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    /// <summary>For tokens that follow those in <paramref name="cache"/>, which is extended by them.</summary>
    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        using var embedded = embed_tokens.forward(ids);                             // (b, s, hidden)
        using var scale = EmbeddingScale(_config, embedded.dtype, embedded.device);  // () in the model's dtype
        using var h = DecoderStack.Run(embedded * scale, layers, cache);
        return norm.forward(h);
    }

    /// <summary>
    /// √hidden rounded to the model's dtype, as transformers rounds it: Gemma 2 makes the tensor in that dtype from
    /// Python's double; Gemma 3 keeps an fp32 buffer and converts it (sqrt(1152): 33.94 in fp32, 34.0 in bf16).
    /// </summary>
    public static Tensor EmbeddingScale(ModelConfig config, ScalarType dtype, Device? device = null)
    {
        double root = Math.Sqrt(config.HiddenSize);
        using var exact = config.Family == ModelFamily.Gemma3 ? tensor((float)root, device: device) : tensor(root, dtype: float64, device: device);
        return exact.to(dtype);
    }
}
