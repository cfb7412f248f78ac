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
}

/// <summary>The sizes of a decoder-only transformer, as a Hugging Face config.json gives them.</summary>
/// <param name="ModelType">config.json's model_type (llama, mistral, qwen2, gpt2, phi).</param>
/// <param name="MaxPositions">Learned position embeddings (GPT-2 only); 0 otherwise.</param>
/// <param name="RotaryFraction">Share of each head's dimensions that rotary embeddings rotate (Phi: partial_rotary_factor).</param>
/// <param name="RopeTheta">Rotary base frequency (rope_theta).</param>
/// <param name="NormEps">The norms' epsilon (rms_norm_eps, layer_norm_epsilon, layer_norm_eps).</param>
/// <param name="HeadDimension">config.json's head_dim where it is given (Mistral-Nemo: 128 with hidden 5120 and 32 heads); else hidden / heads.</param>
/// <param name="AttentionBias">Llama's attention_bias: q, k, v and o have biases.</param>
/// <param name="MlpBias">Llama's mlp_bias: gate, up and down have biases.</param>
/// <param name="RopeScaling">config.json's rope_scaling (linear, dynamic, llama3, yarn), or null.</param>
/// <param name="SlidingWindow">Mistral's sliding_window: each token attends to itself and the window − 1 before it.</param>
public sealed record ModelConfig(
    string ModelType, ModelFamily Family, int HiddenSize, int IntermediateSize, int Layers, int Heads, int KvHeads,
    int VocabSize, bool TieWordEmbeddings, int MaxPositions = 0, double RotaryFraction = 1.0, double RopeTheta = 10000, double NormEps = 1e-5,
    int? HeadDimension = null, bool AttentionBias = false, bool MlpBias = false, RopeScaling? RopeScaling = null,
    int? SlidingWindow = null)
{
    public int HeadDim => HeadDimension ?? HiddenSize / Heads;

    /// <summary>Width of q (and the input of o_proj): heads × head_dim, which equals the hidden size unless head_dim says otherwise.</summary>
    public int QDim => checked(Heads * HeadDim);

    /// <summary>Width of k and v: grouped-query attention shares each kv head among Heads/KvHeads query heads.</summary>
    public int KvDim => checked(KvHeads * HeadDim);
}
