using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// DoRA's trained magnitude: one scale per output row of the adapted weight. A module of its own so
/// that its parameter is named <c>lora_magnitude_vector.{adapter}.weight</c>, as in peft.
/// </summary>
public sealed class DoraMagnitude : nn.Module
{
    /// <param name="initial">(out,) row norms of W + ΔW; copied.</param>
    public DoraMagnitude(Tensor initial) : base("lora_magnitude_vector")
    {
        weight = new Parameter(initial.detach().clone());
        weight.DetachFromDisposeScope();             // owned by the module, whatever scope the caller is in
        register_parameter("weight", weight);
    }

    /// <summary>(out,) the magnitude m. Settable so that TorchSharp's Module.to() can put the moved tensor here.</summary>
    public Parameter weight { get; private set; }
}
