using LoraGen.Models.Attention;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>
/// The Llama family (Llama 2/3, Mistral, TinyLlama, SmolLM; Qwen2 with its q/k/v biases; Qwen3 with its q/k norms) as Hugging Face
/// lays it out: field names are the checkpoint's module names, so parameters read
/// <c>model.layers.0.self_attn.q_proj.weight</c>. With tied embeddings there is no lm_head: the logits use
/// the embedding matrix.
/// </summary>
[LoraTarget(r: 16, alpha: 32, Strategy = LoraStrategy.AllLinear)]
public sealed partial class LlamaForCausalLM : nn.Module<Tensor, Tensor>, ICausalLanguageModel
{
    private LlamaModel model;
    private nn.Module<Tensor, Tensor>? lm_head;

    public LlamaForCausalLM(ModelConfig config, Device? device = null) : base(nameof(LlamaForCausalLM))
    {
        if (config.Family is not (ModelFamily.Llama or ModelFamily.Qwen2 or ModelFamily.Qwen3))
            throw new ArgumentException($"LlamaForCausalLM builds the Llama family (llama, mistral, qwen2, qwen3); got model_type '{config.ModelType}'.", nameof(config));
        Config = config;
        model = new LlamaModel(config, device);
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

    /// <summary>Mean next-token cross-entropy of <paramref name="ids"/> (batch, seq).</summary>
    public Tensor NextTokenLoss(Tensor ids)
    {
        using var logits = forward(ids);                                            // (b, s, vocab)
        return Training.CausalLmLoss.Compute(logits, ids);                          // every token learned
    }
}
