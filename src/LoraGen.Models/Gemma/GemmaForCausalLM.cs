using LoraGen.Models.Attention;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Gemma;

/// <summary>
/// Gemma 2 and Gemma 3 (text) as Hugging Face lays them out (<c>model.layers.0.pre_feedforward_layernorm.weight</c>):
/// the lm_head is tied to the embedding unless the config unties it, and final_logit_softcapping, where set, caps
/// the logits at ±cap through tanh.
/// </summary>
[LoraTarget(r: 16, alpha: 32, Strategy = LoraStrategy.AllLinear)]
public sealed partial class GemmaForCausalLM : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    private GemmaModel model;
    private nn.Module<Tensor, Tensor>? lm_head;

    public GemmaForCausalLM(ModelConfig config, Device? device = null) : base(nameof(GemmaForCausalLM))
    {
        if (!config.IsGemma)
            throw new ArgumentException($"GemmaForCausalLM builds model_type gemma2 and gemma3_text; got '{config.ModelType}'.", nameof(config));
        Config = config;
        model = new GemmaModel(config, device);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false, device: device);
        RegisterComponents();
    }

    public ModelConfig Config { get; }

    public int LayerCount => Config.Layers;

    /// <param name="ids">(batch, seq) token ids</param>
    /// <returns>(batch, seq, vocab) logits</returns>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var hidden = model.Forward(ids, cache);                                     // (b, s, hidden)
        var logits = lm_head is null ? hidden.matmul(model.EmbeddingWeight.t()) : lm_head.forward(hidden);
        if (Config.FinalLogitSoftcap is double cap) logits = (logits / cap).tanh() * cap;
        return logits.MoveToOuterDisposeScope();
    }
}
