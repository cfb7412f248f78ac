using LoraGen.Models.Attention;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi3;

/// <summary>
/// Phi-3 and Phi-4 (model_type phi3) as Hugging Face lays them out. All-linear LoRA adapts the fused layers as peft
/// does: qkv_proj, o_proj, gate_up_proj and down_proj (peft has no default targets for phi3).
/// </summary>
[LoraTarget(r: 16, alpha: 32, Strategy = LoraStrategy.AllLinear)]
public sealed partial class Phi3ForCausalLM : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    private Phi3Model model;
    private nn.Module<Tensor, Tensor>? lm_head;

    public Phi3ForCausalLM(ModelConfig config, Device? device = null) : base(nameof(Phi3ForCausalLM))
    {
        if (config.Family != ModelFamily.Phi3)
            throw new ArgumentException($"Phi3ForCausalLM builds model_type phi3; got '{config.ModelType}'.", nameof(config));
        Config = config;
        model = new Phi3Model(config, device);
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
        using var hidden = model.Forward(ids, cache);
        return lm_head is null ? hidden.matmul(model.EmbeddingWeight.t()) : lm_head.forward(hidden);
    }
}
