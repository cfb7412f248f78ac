using LoraGen.Planning;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Gpt2;

/// <summary>
/// GPT-2 as Hugging Face lays it out (<c>transformer.h.0.attn.c_attn.weight</c>); the language-model head is
/// tied to the token embedding. peft's default target for GPT-2 is c_attn.
/// </summary>
[LoraTarget(r: 16, alpha: 32, Modules = ["c_attn"])]
public sealed partial class Gpt2LMHeadModel : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    private Gpt2Model transformer;

    public Gpt2LMHeadModel(ModelConfig config, Device? device = null) : base(nameof(Gpt2LMHeadModel))
    {
        if (config.Family != ModelFamily.Gpt2)
            throw new ArgumentException($"Gpt2LMHeadModel builds model_type gpt2; got '{config.ModelType}'.", nameof(config));
        Config = config;
        transformer = new Gpt2Model(config, device);
        RegisterComponents();
    }

    public ModelConfig Config { get; }

    /// <summary>
    /// Weights transformers' GPT-2 stores as Conv1D, (in, out): c_attn, c_proj and c_fc. Ours are Linear, (out, in),
    /// so loading and exporting transpose exactly these.
    /// </summary>
    public static bool IsConv1DWeight(string name) =>
        name.EndsWith(".weight", StringComparison.Ordinal) && (name.Contains(".c_attn.") || name.Contains(".c_proj.") || name.Contains(".c_fc."));

    public int LayerCount => Config.Layers;

    /// <param name="ids">(batch, seq)</param>
    /// <returns>(batch, seq, vocab) logits</returns>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        using var hidden = transformer.Forward(ids, cache);
        return hidden.matmul(transformer.TokenEmbedding.t());
    }
}
