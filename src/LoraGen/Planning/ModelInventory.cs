using LoraGen.Injection;

namespace LoraGen.Planning;

/// <summary>
/// A kind of Linear (or GPT-2 Conv1D) layer of a model: its Hugging Face module path, with <c>{i}</c> for the
/// decoder-layer index when there is one per layer, and how many instances the model has.
/// </summary>
/// <param name="IsOutputHead">lm_head: never part of all-linear, never quantized.</param>
public sealed record LinearShape(string Path, long In, long Out, bool HasBias, bool IsOutputHead = false, int Instances = 1)
{
    /// <summary>Parameters of one instance.</summary>
    public long Parameters => checked(In * Out + (HasBias ? Out : 0));

    /// <summary>The module path of every instance (<c>{i}</c> replaced by 0, 1, ...).</summary>
    public IEnumerable<string> InstancePaths() => Expand(Path, Instances);

    internal static IEnumerable<string> Expand(string path, int instances) =>
        path.Contains(ModulePath.IndexSegment) ? Enumerable.Range(0, instances).Select(i => path.Replace(ModulePath.IndexSegment, i.ToString(System.Globalization.CultureInfo.InvariantCulture))) : [path];

    /// <summary>
    /// How many instances a target name selects, peft's way (exact path or dotted suffix): all of them, or one when
    /// the name reaches the <c>{i}</c> segment with an index (<c>model.layers.3.self_attn.q_proj</c>), or none.
    /// </summary>
    public int InstancesMatching(string name) => PinnedIndex(name) switch
    {
        null => ModulePath.Matches(Path, name) ? Instances : 0,
        -1 => 0,
        _ => 1,
    };

    /// <summary>
    /// The one instance index a matching name pins (<c>model.layers.3.self_attn.q_proj</c> → 3); null when the name
    /// selects every instance (or none); -1 when it names an index this model does not have (or writes it as peft
    /// never would, e.g. 03).
    /// </summary>
    public int? PinnedIndex(string name)
    {
        if (!ModulePath.Matches(Path, name)) return null;
        var pathSegments = Path.Split('.');
        var nameSegments = name.Split('.');
        int index = Array.IndexOf(pathSegments, ModulePath.IndexSegment), offset = pathSegments.Length - nameSegments.Length;
        if (index < offset || nameSegments[index - offset] == ModulePath.IndexSegment) return null;   // every instance
        string segment = nameSegments[index - offset];
        return int.TryParse(segment, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i)
               && i < Instances && segment == i.ToString(System.Globalization.CultureInfo.InvariantCulture) ? i : -1;
    }
}

/// <summary>Parameters that are not in a Linear layer (embeddings and norms): <paramref name="Count"/> per instance.</summary>
public sealed record OtherParameters(string Path, long Count, int Instances = 1)
{
    /// <summary>The module path of every instance (<c>{i}</c> replaced by 0, 1, ...).</summary>
    public IEnumerable<string> InstancePaths() => LinearShape.Expand(Path, Instances);
}

/// <summary>
/// Every parameter of a model built from a <see cref="ModelConfig"/>, with Hugging Face's module paths: one
/// entry per kind of layer times its count (no per-layer objects, so a config with absurd sizes costs nothing
/// to count, and every sum is checked for overflow).
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

    /// <summary>Each parameter counted once (tied embeddings have no separate lm_head). Throws <see cref="OverflowException"/> past 2⁶³.</summary>
    public long TotalParameters => checked(Linears.Sum(l => l.Parameters * l.Instances) + Others.Sum(o => o.Count * o.Instances));

    public static ModelInventory For(ModelConfig c)
    {
        var linears = new List<LinearShape>();
        var others = new List<OtherParameters>();
        long h = c.HiddenSize, q = c.QDim, kv = c.KvDim, d = c.HeadDim, inter = c.IntermediateSize, vocab = c.VocabSize;
        int n = c.Layers;
        checked
        {
            switch (c.Family)
            {
                case ModelFamily.Llama or ModelFamily.Qwen2 or ModelFamily.Qwen3 or ModelFamily.Gemma2 or ModelFamily.Gemma3:
                {
                    bool qkvBias = c.Family == ModelFamily.Qwen2 || c.AttentionBias, mlpBias = c.MlpBias;
                    const string p = "model.layers.{i}.";
                    others.Add(new("model.embed_tokens", vocab * h));
                    linears.Add(new(p + "self_attn.q_proj", h, q, qkvBias, Instances: n));
                    linears.Add(new(p + "self_attn.k_proj", h, kv, qkvBias, Instances: n));
                    linears.Add(new(p + "self_attn.v_proj", h, kv, qkvBias, Instances: n));
                    linears.Add(new(p + "self_attn.o_proj", q, h, c.AttentionBias, Instances: n));
                    linears.Add(new(p + "mlp.gate_proj", h, inter, mlpBias, Instances: n));
                    linears.Add(new(p + "mlp.up_proj", h, inter, mlpBias, Instances: n));
                    linears.Add(new(p + "mlp.down_proj", inter, h, mlpBias, Instances: n));
                    if (c.HasQkNorm)
                    {
                        others.Add(new(p + "self_attn.q_norm", d, n));   // one weight per head dimension, shared by the heads
                        others.Add(new(p + "self_attn.k_norm", d, n));
                    }
                    others.Add(new(p + "input_layernorm", h, n));
                    others.Add(new(p + "post_attention_layernorm", h, n));
                    if (c.IsGemma)
                    {
                        others.Add(new(p + "pre_feedforward_layernorm", h, n));
                        others.Add(new(p + "post_feedforward_layernorm", h, n));
                    }
                    others.Add(new("model.norm", h));
                    if (!c.TieWordEmbeddings) linears.Add(new("lm_head", h, vocab, false, IsOutputHead: true));
                    break;
                }
                case ModelFamily.Phi3:
                {
                    const string p = "model.layers.{i}.";
                    others.Add(new("model.embed_tokens", vocab * h));
                    linears.Add(new(p + "self_attn.qkv_proj", h, q + 2 * kv, false, Instances: n));   // rows: q, then k, then v
                    linears.Add(new(p + "self_attn.o_proj", q, h, false, Instances: n));
                    linears.Add(new(p + "mlp.gate_up_proj", h, 2 * inter, false, Instances: n));       // rows: gate, then up
                    linears.Add(new(p + "mlp.down_proj", inter, h, false, Instances: n));
                    others.Add(new(p + "input_layernorm", h, n));
                    others.Add(new(p + "post_attention_layernorm", h, n));
                    others.Add(new("model.norm", h));
                    if (!c.TieWordEmbeddings) linears.Add(new("lm_head", h, vocab, false, IsOutputHead: true));
                    break;
                }
                case ModelFamily.Gpt2:
                {
                    const string p = "transformer.h.{i}.";
                    others.Add(new("transformer.wte", vocab * h));
                    others.Add(new("transformer.wpe", c.MaxPositions * h));
                    others.Add(new(p + "ln_1", 2 * h, n));
                    linears.Add(new(p + "attn.c_attn", h, 3 * h, true, Instances: n));
                    linears.Add(new(p + "attn.c_proj", h, h, true, Instances: n));
                    others.Add(new(p + "ln_2", 2 * h, n));
                    linears.Add(new(p + "mlp.c_fc", h, inter, true, Instances: n));
                    linears.Add(new(p + "mlp.c_proj", inter, h, true, Instances: n));
                    others.Add(new("transformer.ln_f", 2 * h));
                    break;   // lm_head is tied to wte
                }
                case ModelFamily.Phi:
                {
                    const string p = "model.layers.{i}.";
                    others.Add(new("model.embed_tokens", vocab * h));
                    linears.Add(new(p + "self_attn.q_proj", h, h, true, Instances: n));
                    linears.Add(new(p + "self_attn.k_proj", h, kv, true, Instances: n));
                    linears.Add(new(p + "self_attn.v_proj", h, kv, true, Instances: n));
                    linears.Add(new(p + "self_attn.dense", h, h, true, Instances: n));
                    linears.Add(new(p + "mlp.fc1", h, inter, true, Instances: n));
                    linears.Add(new(p + "mlp.fc2", inter, h, true, Instances: n));
                    others.Add(new(p + "input_layernorm", 2 * h, n));
                    others.Add(new("model.final_layernorm", 2 * h));
                    if (!c.TieWordEmbeddings) linears.Add(new("lm_head", h, vocab, true, IsOutputHead: true));
                    break;
                }
            }
        }
        return new ModelInventory(linears, others);
    }
}
