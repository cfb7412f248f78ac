using LoraGen.Planning;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>Phi-2 as Hugging Face lays it out; the lm_head is untied and has a bias.</summary>
[LoraTarget(r: 16, alpha: 32, Strategy = LoraStrategy.AllLinear)]
public sealed partial class PhiForCausalLM : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    private PhiModel model;
    private nn.Module<Tensor, Tensor> lm_head;

    public PhiForCausalLM(ModelConfig config, Device? device = null) : base(nameof(PhiForCausalLM))
    {
        if (config.Family != ModelFamily.Phi)
            throw new ArgumentException($"PhiForCausalLM builds model_type phi; got '{config.ModelType}'.", nameof(config));
        LayerCount = config.Layers;
        model = new PhiModel(config, device);
        lm_head = nn.Linear(config.HiddenSize, config.VocabSize, device: device);
        RegisterComponents();
    }

    public int LayerCount { get; }

    /// <param name="ids">(batch, seq)</param>
    /// <returns>(batch, seq, vocab) logits</returns>
    public override Tensor forward(Tensor ids) => Forward(ids, null);

    public Tensor Forward(Tensor ids, KvCache? cache)
    {
        using var hidden = model.Forward(ids, cache);
        return lm_head.forward(hidden);
    }
}
