using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Phi;

/// <summary>Phi's attention: q, k, v and dense all with biases; rotary embeddings on the first share of each head only.</summary>
public sealed partial class PhiAttention : nn.Module<Tensor, Tensor>
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

    /// <param name="x">(batch, seq, hidden)</param>
    public override Tensor forward(Tensor x) => Forward(x, null, 0);

    /// <summary>For tokens that follow those in <paramref name="cache"/> (when given), whose keys and values it extends.</summary>
    public Tensor Forward(Tensor x, KvCache? cache, int layer)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], seq = x.shape[1], d = _config.HeadDim, past = cache?.Length ?? 0;
        long rotated = (long)(d * _config.RotaryFraction);
        int heads = _config.Heads, kvHeads = _config.KvHeads;
        var q = q_proj.forward(x).view(batch, seq, heads, d).transpose(1, 2);        // (b, heads, s, d)
        var k = k_proj.forward(x).view(batch, seq, kvHeads, d).transpose(1, 2);
        var v = v_proj.forward(x).view(batch, seq, kvHeads, d).transpose(1, 2);
        var (cos, sin) = Rotary.Tables(past + seq, rotated, _config.RopeTheta, x.device, x.dtype);
        (cos, sin) = (cos.narrow(0, past, seq), sin.narrow(0, past, seq));          // positions past .. past+s−1
        q = Rotary.Apply(q, cos, sin);                                               // the first `rotated` dimensions
        k = Rotary.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(layer, k, v);
        var mixed = CausalAttention.Attend(q, CausalAttention.ExpandKv(k, heads, kvHeads), CausalAttention.ExpandKv(v, heads, kvHeads));
        return dense.forward(mixed).MoveToOuterDisposeScope();                      // (b, s, hidden)
    }
}
