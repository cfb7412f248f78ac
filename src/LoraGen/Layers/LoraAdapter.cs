using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// One named adapter of a <see cref="LoraLinear"/>: a view over the modules the layer registered for it
/// (under <c>lora_A.{name}</c>, <c>lora_B.{name}</c>, <c>lora_dropout.{name}</c> and, for DoRA,
/// <c>lora_magnitude_vector.{name}</c>). The layer owns and disposes them.
/// </summary>
public sealed class LoraAdapter
{
    internal LoraAdapter(string name, LoraConfig config, Linear a, Linear b, nn.Module<Tensor, Tensor> dropout, DoraMagnitude? magnitude)
    {
        Name = name;
        Config = config;
        A = a;
        B = b;
        Dropout = dropout;
        Magnitude = magnitude;
    }

    public string Name { get; }

    public LoraConfig Config { get; }

    /// <summary>Down projection, weight (r, in).</summary>
    public Linear A { get; }

    /// <summary>Up projection, weight (out, r).</summary>
    public Linear B { get; }

    public nn.Module<Tensor, Tensor> Dropout { get; }

    /// <summary>DoRA's magnitude vector, or null for plain LoRA.</summary>
    public DoraMagnitude? Magnitude { get; }

    public double Scaling => Config.Scaling;

    /// <summary>ΔW = scaling·B·A, shape (out, in), with gradient flowing to A and B.</summary>
    public Tensor DeltaWeight()
    {
        using var product = B.weight.matmul(A.weight);   // (out, r)·(r, in) = (out, in)
        return product.mul(Scaling);
    }
}
