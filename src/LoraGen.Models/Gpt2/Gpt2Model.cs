using LoraGen.Models.Layers;
using LoraGen.Planning;
using TorchSharp.Modules;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Gpt2;

/// <summary>HF's <c>transformer.*</c>: token and learned position embeddings, the blocks, the final LayerNorm.</summary>
public sealed partial class Gpt2Model : nn.Module<Tensor, Tensor>
{
    private Embedding wte;
    private Embedding wpe;
    private ModuleList<Gpt2Block> h = new();
    private LayerNorm ln_f;

    public Gpt2Model(ModelConfig config, Device? device = null) : base(nameof(Gpt2Model))
    {
        wte = Embeddings.Create(config.VocabSize, config.HiddenSize, device);
        wpe = Embeddings.Create(config.MaxPositions, config.HiddenSize, device);
        for (int i = 0; i < config.Layers; i++) h.Add(new Gpt2Block(config, device));
        ln_f = nn.LayerNorm(config.HiddenSize, config.NormEps, device: device);
        RegisterComponents();
    }

    public Parameter TokenEmbedding => wte.weight!;

    /// <param name="ids">(batch, seq)</param>
    /// <returns>(batch, seq, hidden)</returns>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    /// <summary>For tokens that follow those in <paramref name="cache"/>, which is extended by them.</summary>
    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        long past = cache?.Length ?? 0;
        using var positions = arange(past, past + ids.shape[1], device: ids.device);
        using var tokens = wte.forward(ids);
        using var places = wpe.forward(positions);
        using var x = DecoderStack.Run(tokens + places, h, cache);
        return ln_f.forward(x);
    }
}
