namespace LoraGen.Planning;

/// <summary>The architecture families the planner (and the reference models) know.</summary>
public enum ModelFamily
{
    /// <summary>Llama 2/3, Mistral, TinyLlama, SmolLM: RMSNorm, gated SiLU MLP, grouped-query attention.</summary>
    Llama,

    /// <summary>Qwen2: the Llama layout with biases on q, k and v.</summary>
    Qwen2,

    /// <summary>GPT-2: LayerNorm, learned positions, fused c_attn, GELU MLP, tied embeddings; Conv1D layers.</summary>
    Gpt2,

    /// <summary>Phi-2: parallel attention and MLP under one LayerNorm, biases everywhere, untied lm_head with bias.</summary>
    Phi,

    /// <summary>Qwen3 (dense): the Llama layout with an RMSNorm over each head of q and k before the rotation.</summary>
    Qwen3,

    /// <summary>Gemma 2: embeddings scaled by √hidden, (1 + w) RMSNorms around attention and MLP, GeGLU, soft-capped logits, every other layer sliding.</summary>
    Gemma2,

    /// <summary>Gemma 3 (text): Gemma 2's layout with (1 + w) q/k norms per head; sliding layers rotate at their own base.</summary>
    Gemma3,

    /// <summary>Phi-3 and Phi-4: the Llama layout with q, k and v fused in qkv_proj and gate and up in gate_up_proj.</summary>
    Phi3,
}

/// <summary>The sizes of a decoder-only transformer, as a Hugging Face config.json gives them.</summary>
/// <param name="ModelType">config.json's model_type (llama, mistral, qwen2, qwen3, gemma2, gemma3_text, gpt2, phi, phi3).</param>
/// <param name="MaxPositions">Learned position embeddings (GPT-2 only); 0 otherwise.</param>
/// <param name="RotaryFraction">Share of each head's dimensions that rotary embeddings rotate (Phi, Phi-3: partial_rotary_factor).</param>
/// <param name="RopeTheta">Rotary base frequency (rope_theta).</param>
/// <param name="NormEps">The norms' epsilon (rms_norm_eps, layer_norm_epsilon, layer_norm_eps).</param>
/// <param name="HeadDimension">config.json's head_dim where it is given (Mistral-Nemo: 128 with hidden 5120 and 32 heads); else hidden / heads.</param>
/// <param name="AttentionBias">attention_bias (Llama, Qwen3, Gemma): q, k, v and o have biases.</param>
/// <param name="MlpBias">Llama's mlp_bias: gate, up and down have biases.</param>
/// <param name="RopeScaling">config.json's rope_scaling (linear, dynamic, llama3, yarn), or null.</param>
/// <param name="SlidingWindow">sliding_window: each token attends to itself and the window − 1 before it (Mistral, Phi-3: every layer).</param>
/// <param name="SlidingWindowPattern">Gemma: layer i slides unless (i + 1) is a multiple of this (2: every other layer; 6: five of six); null: every layer slides.</param>
/// <param name="LocalRopeTheta">Gemma 3's rope_local_base_freq: the rotary base of sliding layers, which rope_scaling never touches.</param>
/// <param name="QueryPreAttnScalar">Gemma's query_pre_attn_scalar: attention scores are scaled by its −½ power instead of head_dim's.</param>
/// <param name="AttentionSoftcap">attn_logit_softcapping: scores become tanh(s / cap)·cap before the mask.</param>
/// <param name="FinalLogitSoftcap">final_logit_softcapping: the logits become tanh(l / cap)·cap.</param>
public sealed record ModelConfig(
    string ModelType, ModelFamily Family, int HiddenSize, int IntermediateSize, int Layers, int Heads, int KvHeads,
    int VocabSize, bool TieWordEmbeddings, int MaxPositions = 0, double RotaryFraction = 1.0, double RopeTheta = 10000, double NormEps = 1e-5,
    int? HeadDimension = null, bool AttentionBias = false, bool MlpBias = false, RopeScaling? RopeScaling = null,
    int? SlidingWindow = null, int? SlidingWindowPattern = null, double? LocalRopeTheta = null, double? QueryPreAttnScalar = null,
    double? AttentionSoftcap = null, double? FinalLogitSoftcap = null)
{
    public int HeadDim => HeadDimension ?? HiddenSize / Heads;

    /// <summary>Width of q (and the input of o_proj): heads × head_dim, which equals the hidden size unless head_dim says otherwise.</summary>
    public int QDim => checked(Heads * HeadDim);

    /// <summary>Width of k and v: grouped-query attention shares each kv head among Heads/KvHeads query heads.</summary>
    public int KvDim => checked(KvHeads * HeadDim);

    /// <summary>Gemma 2 and 3: scaled embeddings, (1 + w) norms, four norms a layer, GeGLU.</summary>
    public bool IsGemma => Family is ModelFamily.Gemma2 or ModelFamily.Gemma3;

    /// <summary>Qwen3 and Gemma 3 normalise each head of q and k (q_norm, k_norm of head_dim) before the rotation.</summary>
    public bool HasQkNorm => Family is ModelFamily.Qwen3 or ModelFamily.Gemma3;

    /// <summary>What q·kᵀ is multiplied by: query_pre_attn_scalar^−½ where given, else head_dim^−½.</summary>
    public double AttentionScale => 1 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    /// <summary>transformers' "sliding_attention" layer type: every layer without a pattern, else all but each pattern-th.</summary>
    public bool IsSlidingLayer(int layer) => SlidingWindowPattern is not int pattern || (layer + 1) % pattern != 0;

    /// <summary>The sliding window of <paramref name="layer"/>, or null where it sees every earlier token.</summary>
    public int? WindowOf(int layer) => IsSlidingLayer(layer) ? SlidingWindow : null;

    /// <summary>The rotary base and scaling of <paramref name="layer"/>: Gemma 3's sliding layers use the local base, unscaled.</summary>
    public (double Theta, RopeScaling? Scaling) RopeOf(int layer) =>
        LocalRopeTheta is double local && IsSlidingLayer(layer) ? (local, null) : (RopeTheta, RopeScaling);
}
