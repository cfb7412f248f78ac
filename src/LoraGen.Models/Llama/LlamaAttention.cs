using LoraGen.Planning;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>
/// Causal self-attention with grouped-query heads and rotary positions, as the Llama, Qwen and Gemma families
/// write it: Qwen2 adds q/k/v biases, attention_bias all four; Qwen3 and Gemma 3 normalise each head of q and k
/// (q_norm, k_norm) before the rotation; Gemma scales by query_pre_attn_scalar, soft-caps the scores (Gemma 2) and
/// gives each layer its own window and rotary base.
/// </summary>
public sealed partial class LlamaAttention : CachedBlock
{
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> k_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private nn.Module<Tensor, Tensor> o_proj;
    private RmsNorm? q_norm;
    private RmsNorm? k_norm;
    private readonly ModelConfig _config;
    private readonly int? _window;
    private readonly (double Theta, RopeScaling? Scaling) _rope;

    /// <param name="layer">This layer's index: it decides the sliding window and rotary base (Gemma).</param>
    public LlamaAttention(ModelConfig config, int layer, Device? device = null) : base(nameof(LlamaAttention))
    {
        bool bias = config.Family == ModelFamily.Qwen2 || config.AttentionBias;                          // Qwen2: q, k, v always
        q_proj = nn.Linear(config.HiddenSize, config.QDim, hasBias: bias, device: device);             // heads × head_dim
        k_proj = nn.Linear(config.HiddenSize, config.KvDim, hasBias: bias, device: device);
        v_proj = nn.Linear(config.HiddenSize, config.KvDim, hasBias: bias, device: device);
        o_proj = nn.Linear(config.QDim, config.HiddenSize, hasBias: config.AttentionBias, device: device);
        if (config.HasQkNorm)
        {
            q_norm = config.IsGemma ? RmsNorm.Gemma(config.HeadDim, config.NormEps, device) : new RmsNorm(config.HeadDim, config.NormEps, device);
            k_norm = config.IsGemma ? RmsNorm.Gemma(config.HeadDim, config.NormEps, device) : new RmsNorm(config.HeadDim, config.NormEps, device);
        }
        _config = config;
        _window = config.WindowOf(layer);
        _rope = config.RopeOf(layer);
        RegisterComponents();
    }

    /// <summary>The same within a forward pass: after the tokens in its cache (when it has one), whose keys and values it extends.</summary>
    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], seq = x.shape[1], d = _config.HeadDim;
        int heads = _config.Heads, kvHeads = _config.KvHeads;
        var q = q_proj.forward(x).view(batch, seq, heads, d);                       // (b, s, heads, d)
        var k = k_proj.forward(x).view(batch, seq, kvHeads, d);                     // (b, s, kvHeads, d)
        if (q_norm is not null && k_norm is not null) (q, k) = (q_norm.forward(q), k_norm.forward(k));   // over each head's d
        q = q.transpose(1, 2);                                                      // (b, heads, s, d)
        k = k.transpose(1, 2);                                                      // (b, kvHeads, s, d)
        var v = v_proj.forward(x).view(batch, seq, kvHeads, d).transpose(1, 2);
        var mixed = pass.RotaryAttention(q, k, v, layer, d, _rope.Theta, _rope.Scaling, _window, _config.AttentionScale, _config.AttentionSoftcap);
        return o_proj.forward(mixed).MoveToOuterDisposeScope();                     // (b, s, hidden)
    }
}
