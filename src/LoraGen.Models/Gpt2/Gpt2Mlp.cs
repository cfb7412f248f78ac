using static TorchSharp.torch;

namespace LoraGen.Models.Gpt2;

/// <summary>c_proj(gelu(c_fc(x))) with GPT-2's tanh approximation of GELU.</summary>
public sealed partial class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> c_fc;
    private nn.Module<Tensor, Tensor> c_proj;

    public Gpt2Mlp(long hidden, long inner, Device? device = null) : base(nameof(Gpt2Mlp))
    {
        c_fc = nn.Linear(hidden, inner, device: device);
        c_proj = nn.Linear(inner, hidden, device: device);
        RegisterComponents();
    }

    /// <param name="x">(..., hidden)</param>
    public override Tensor forward(Tensor x)
    {
        using var up = c_fc.forward(x);
        using var activated = TanhGelu(up);
        return c_proj.forward(activated);
    }

    /// <summary>0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), HF's "gelu_new".</summary>
    public static Tensor TanhGelu(Tensor x)
    {
        using var cube = x.pow(3);
        using var inner = (x + 0.044715 * cube) * Math.Sqrt(2 / Math.PI);
        using var gate = inner.tanh().add_(1);
        return x * gate * 0.5;
    }
}
