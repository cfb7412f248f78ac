using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi3;

/// <summary>
/// Phi-3's attention: one fused qkv_proj whose output rows are q, then k, then v (no biases), rotary positions on
/// the first partial_rotary_factor of each head, and sliding_window on every layer when the config sets it.
/// </summary>
public sealed partial class Phi3Attention : CachedBlock
{
    private nn.Module<Tensor, Tensor> qkv_proj;
    private nn.Module<Tensor, Tensor> o_proj;
    private readonly ModelConfig _config;

    public Phi3Attention(ModelConfig config, Device? device = null) : base(nameof(Phi3Attention))
    {
        qkv_proj = nn.Linear(config.HiddenSize, config.QDim + 2L * config.KvDim, hasBias: false, device: device);
        o_proj = nn.Linear(config.QDim, config.HiddenSize, hasBias: false, device: device);
        _config = config;
        RegisterComponents();
    }

    /// <summary>The same within a forward pass: after the tokens in its cache (when it has one), whose keys and values it extends.</summary>
    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], seq = x.shape[1], d = _config.HeadDim;
        long rotated = (long)(d * _config.RotaryFraction);
        int heads = _config.Heads, kvHeads = _config.KvHeads;
        var qkv = qkv_proj.forward(x);                                               // (b, s, q + 2·kv)
        var q = qkv.narrow(-1, 0, _config.QDim).view(batch, seq, heads, d).transpose(1, 2);                       // (b, heads, s, d)
        var k = qkv.narrow(-1, _config.QDim, _config.KvDim).view(batch, seq, kvHeads, d).transpose(1, 2);         // (b, kvHeads, s, d)
        var v = qkv.narrow(-1, _config.QDim + _config.KvDim, _config.KvDim).view(batch, seq, kvHeads, d).transpose(1, 2);
        var mixed = pass.RotaryAttention(q, k, v, layer, rotated, _config.RopeTheta, _config.RopeScaling, _config.SlidingWindow);   // the first `rotated` dimensions turn
        return o_proj.forward(mixed).MoveToOuterDisposeScope();                     // (b, s, hidden)
    }
}
