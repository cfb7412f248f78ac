using static TorchSharp.torch;

namespace LoraGen.Models.Phi3;

/// <summary>down(silu(gate) ⊙ up) with gate and up fused in gate_up_proj: its first half of output rows is the gate.</summary>
public sealed partial class Phi3Mlp : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> gate_up_proj;
    private nn.Module<Tensor, Tensor> down_proj;
    private readonly long _intermediate;

    public Phi3Mlp(long hidden, long intermediate, Device? device = null) : base(nameof(Phi3Mlp))
    {
        gate_up_proj = nn.Linear(hidden, 2 * intermediate, hasBias: false, device: device);
        down_proj = nn.Linear(intermediate, hidden, hasBias: false, device: device);
        _intermediate = intermediate;
        RegisterComponents();
    }

    /// <param name="x">(..., hidden)</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var both = gate_up_proj.forward(x);                                          // (..., 2·intermediate)
        var gate = both.narrow(-1, 0, _intermediate);
        var up = both.narrow(-1, _intermediate, _intermediate);
        return down_proj.forward(up * nn.functional.silu(gate)).MoveToOuterDisposeScope();
    }
}
