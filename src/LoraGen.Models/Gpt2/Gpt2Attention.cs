using LoraGen.Planning;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Gpt2;

/// <summary>
/// GPT-2's causal self-attention: one fused projection to q, k and v (c_attn), then c_proj. HF stores both
/// as Conv1D with (in, out) weights; here they are Linear layers, so loading transposes them.
/// </summary>
public sealed partial class Gpt2Attention : CachedBlock
{
    private nn.Module<Tensor, Tensor> c_attn;
    private nn.Module<Tensor, Tensor> c_proj;
    private readonly int _heads;

    public Gpt2Attention(ModelConfig config, Device? device = null) : base(nameof(Gpt2Attention))
    {
        c_attn = nn.Linear(config.HiddenSize, 3L * config.HiddenSize, device: device);
        c_proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        _heads = config.Heads;
        RegisterComponents();
    }

    /// <summary>The same within a forward pass: after the tokens in its cache (when it has one), whose keys and values it extends.</summary>
    public override Tensor Forward(Tensor x, ForwardPass pass, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], seq = x.shape[1], hidden = x.shape[2], d = hidden / _heads;
        var qkv = c_attn.forward(x).split(hidden, dim: -1);                         // 3 x (b, s, hidden)
        Tensor Heads(Tensor t) => t.view(batch, seq, _heads, d).transpose(1, 2);      // (b, heads, s, d)
        var (q, k, v) = (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
        if (pass.Cache is { } cache) (k, v) = cache.Append(layer, k, v);                   // (b, heads, past+s, d)
        return c_proj.forward(CausalAttention.Attend(q, k, v, pass.Mask(null))).MoveToOuterDisposeScope();
    }
}
