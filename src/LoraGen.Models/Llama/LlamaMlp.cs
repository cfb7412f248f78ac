using static TorchSharp.torch;

namespace LoraGen.Models.Llama;

/// <summary>down(act(gate(x)) ⊙ up(x)): SiLU (SwiGLU) for Llama and Qwen, tanh-approximated GELU (GeGLU) for Gemma.</summary>
public sealed partial class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> gate_proj;
    private nn.Module<Tensor, Tensor> up_proj;
    private nn.Module<Tensor, Tensor> down_proj;
    private readonly Func<Tensor, Tensor> _activation;

    /// <param name="bias">config.json's mlp_bias.</param>
    /// <param name="activation">Applied to the gate; SiLU when null.</param>
    public LlamaMlp(long hidden, long intermediate, bool bias = false, Device? device = null, Func<Tensor, Tensor>? activation = null) : base(nameof(LlamaMlp))
    {
        _activation = activation ?? (x => nn.functional.silu(x));
        gate_proj = nn.Linear(hidden, intermediate, hasBias: bias, device: device);
        up_proj = nn.Linear(hidden, intermediate, hasBias: bias, device: device);
        down_proj = nn.Linear(intermediate, hidden, hasBias: bias, device: device);
        RegisterComponents();
    }

    /// <summary>
    /// transformers' "gelu_pytorch_tanh": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), torch's own kernel (fp32 inside
    /// for 16-bit). GPT-2's "gelu_new" (<see cref="Gpt2.Gpt2Mlp.TanhGelu"/>) is the same formula written op by op, as
    /// transformers writes it; in 16-bit the two round differently, so each family keeps its own.
    /// </summary>
    public static Tensor TanhGelu(Tensor x) => nn.functional.gelu(x, approximate: TorchSharp.Modules.GELU.Approximate.tanh);

    /// <param name="x">(..., hidden)</param>
    public override Tensor forward(Tensor x)
    {
        using var gate = gate_proj.forward(x);            // (..., intermediate)
        using var activated = _activation(gate);
        using var up = up_proj.forward(x);
        using var gated = activated * up;
        return down_proj.forward(gated);
    }
}
