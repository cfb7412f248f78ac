using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>Phi's attention: q, k, v and dense all with biases; rotary embeddings on the first share of each head only.</summary>
public sealed partial class PhiAttention : CachedBlock
{
    private nn.Module<Tensor, Tensor> q_proj;
    private nn.Module<Tensor, Tensor> k_proj;
    private nn.Module<Tensor, Tensor> v_proj;
    private nn.Module<Tensor, Tensor> dense;
    private readonly ModelConfig _config;

    public PhiAttention(ModelConfig config, Device? device = null) : base(nameof(PhiAttention))
    {
        q_proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
        k_proj = nn.Linear(config.HiddenSize, config.KvDim, device: device);
        v_proj = nn.Linear(config.HiddenSize, config.KvDim, device: device);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize, device: device);
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
        var q = q_proj.forward(x).view(batch, seq, heads, d).transpose(1, 2);        // (b, heads, s, d)
        var k = k_proj.forward(x).view(batch, seq, kvHeads, d).transpose(1, 2);
        var v = v_proj.forward(x).view(batch, seq, kvHeads, d).transpose(1, 2);
        var mixed = pass.RotaryAttention(q, k, v, layer, rotated, _config.RopeTheta, null, window: null);   // the first `rotated` dimensions turn
        return dense.forward(mixed).MoveToOuterDisposeScope();                      // (b, s, hidden)
    }
}
