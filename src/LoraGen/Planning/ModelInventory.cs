namespace LoraGen.Planning;

/// <summary>A Linear (or GPT-2 Conv1D) layer of a model, under its Hugging Face module path.</summary>
/// <param name="IsOutputHead">lm_head: never part of all-linear, never quantized.</param>
public sealed record LinearShape(string Path, long In, long Out, bool HasBias, bool IsOutputHead = false)
{
    public long Parameters => In * Out + (HasBias ? Out : 0);
}

/// <summary>Parameters that are not in a Linear layer: embeddings and norms.</summary>
public sealed record OtherParameters(string Path, long Count);

/// <summary>
/// Every parameter of a model built from a <see cref="ModelConfig"/>, with Hugging Face's module paths
/// (one entry per layer, so peft-style names match exactly as they would on the real model).
/// </summary>
public sealed class ModelInventory
{
    private ModelInventory(IReadOnlyList<LinearShape> linears, IReadOnlyList<OtherParameters> others)
    {
        Linears = linears;
        Others = others;
    }

    public IReadOnlyList<LinearShape> Linears { get; }

    public IReadOnlyList<OtherParameters> Others { get; }

    /// <summary>Each parameter counted once (tied embeddings have no separate lm_head).</summary>
    public long TotalParameters => Linears.Sum(l => l.Parameters) + Others.Sum(o => o.Count);

    public static ModelInventory For(ModelConfig c)
    {
        var linears = new List<LinearShape>();
        var others = new List<OtherParameters>();
        long h = c.HiddenSize, kv = c.KvDim, inter = c.IntermediateSize, vocab = c.VocabSize;
        switch (c.Family)
        {
            case ModelFamily.Llama or ModelFamily.Qwen2:
            {
                bool qkvBias = c.Family == ModelFamily.Qwen2;
                others.Add(new("model.embed_tokens", vocab * h));
                for (int i = 0; i < c.Layers; i++)
                {
                    string p = $"model.layers.{i}.";
                    linears.Add(new(p + "self_attn.q_proj", h, h, qkvBias));
                    linears.Add(new(p + "self_attn.k_proj", h, kv, qkvBias));
                    linears.Add(new(p + "self_attn.v_proj", h, kv, qkvBias));
                    linears.Add(new(p + "self_attn.o_proj", h, h, false));
                    linears.Add(new(p + "mlp.gate_proj", h, inter, false));
                    linears.Add(new(p + "mlp.up_proj", h, inter, false));
                    linears.Add(new(p + "mlp.down_proj", inter, h, false));
                    others.Add(new(p + "input_layernorm", h));
                    others.Add(new(p + "post_attention_layernorm", h));
                }
                others.Add(new("model.norm", h));
                if (!c.TieWordEmbeddings) linears.Add(new("lm_head", h, vocab, false, IsOutputHead: true));
                break;
            }
            case ModelFamily.Gpt2:
            {
                others.Add(new("transformer.wte", vocab * h));
                others.Add(new("transformer.wpe", (long)c.MaxPositions * h));
                for (int i = 0; i < c.Layers; i++)
                {
                    string p = $"transformer.h.{i}.";
                    others.Add(new(p + "ln_1", 2 * h));
                    linears.Add(new(p + "attn.c_attn", h, 3 * h, true));
                    linears.Add(new(p + "attn.c_proj", h, h, true));
                    others.Add(new(p + "ln_2", 2 * h));
                    linears.Add(new(p + "mlp.c_fc", h, inter, true));
                    linears.Add(new(p + "mlp.c_proj", inter, h, true));
                }
                others.Add(new("transformer.ln_f", 2 * h));
                break;   // lm_head is tied to wte
            }
            case ModelFamily.Phi:
            {
                others.Add(new("model.embed_tokens", vocab * h));
                for (int i = 0; i < c.Layers; i++)
                {
                    string p = $"model.layers.{i}.";
                    linears.Add(new(p + "self_attn.q_proj", h, h, true));
                    linears.Add(new(p + "self_attn.k_proj", h, kv, true));
                    linears.Add(new(p + "self_attn.v_proj", h, kv, true));
                    linears.Add(new(p + "self_attn.dense", h, h, true));
                    linears.Add(new(p + "mlp.fc1", h, inter, true));
                    linears.Add(new(p + "mlp.fc2", inter, h, true));
                    others.Add(new(p + "input_layernorm", 2 * h));
                }
                others.Add(new("model.final_layernorm", 2 * h));
                if (!c.TieWordEmbeddings) linears.Add(new("lm_head", h, vocab, true, IsOutputHead: true));
                break;
            }
        }
        return new ModelInventory(linears, others);
    }
}
