using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>down(silu(gate(x)) ⊙ up(x)).</summary>
public sealed partial class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> gate_proj;
    private nn.Module<Tensor, Tensor> up_proj;
    private nn.Module<Tensor, Tensor> down_proj;

    /// <param name="bias">config.json's mlp_bias.</param>
    public LlamaMlp(long hidden, long intermediate, bool bias = false, Device? device = null) : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(hidden, intermediate, hasBias: bias, device: device);
        up_proj = nn.Linear(hidden, intermediate, hasBias: bias, device: device);
        down_proj = nn.Linear(intermediate, hidden, hasBias: bias, device: device);
        RegisterComponents();
    }

    /// <param name="x">(..., hidden)</param>
    public override Tensor forward(Tensor x)
    {
        using var gate = gate_proj.forward(x);            // (..., intermediate)
        using var activated = nn.functional.silu(gate);
        using var up = up_proj.forward(x);
        using var gated = activated * up;
        return down_proj.forward(gated);
    }
}
