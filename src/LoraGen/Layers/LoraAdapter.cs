using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// One named adapter of a <see cref="LoraLinear"/>: its down and up projections (registered by the layer under
/// <c>lora_A.{name}</c> and <c>lora_B.{name}</c>), its dropout, and how it changes the output and the merged
/// weight. Two variants: plain LoRA and DoRA (which adds a magnitude per output row). The layer owns and
/// disposes the modules.
/// </summary>
public abstract class LoraAdapter
{
    private protected LoraAdapter(string name, LoraConfig config, Linear a, Linear b, nn.Module<Tensor, Tensor> dropout)
    {
        Name = name;
        Config = config;
        A = a;
        B = b;
        Dropout = dropout;
    }

    public string Name { get; }

    public LoraConfig Config { get; }

    /// <summary>Down projection, weight (r, in).</summary>
    public Linear A { get; }

    /// <summary>Up projection, weight (out, r).</summary>
    public Linear B { get; }

    public nn.Module<Tensor, Tensor> Dropout { get; }

    /// <summary>DoRA's magnitude vector, or null for plain LoRA.</summary>
    public virtual DoraMagnitude? Magnitude => null;

    public double Scaling => Config.Scaling;

    /// <summary>The dtype the adapter's parameters are in and it computes in.</summary>
    public ScalarType DType => A.weight.dtype;

    /// <summary>ΔW = scaling·B·A, shape (out, in), in the adapter's dtype, with gradient flowing to A and B.</summary>
    public Tensor DeltaWeight() => DeltaWeight(DType);

    /// <summary>ΔW = scaling·B·A, shape (out, in), computed in <paramref name="dtype"/>.</summary>
    internal Tensor DeltaWeight(ScalarType dtype)
    {
        if (dtype == DType)
        {
            using var product = B.weight.matmul(A.weight);      // (out, r)·(r, in) = (out, in)
            return product.mul(Scaling);
        }
        using var b = B.weight.to(dtype);
        using var a = A.weight.to(dtype);
        using var cast = b.matmul(a);
        return cast.mul(Scaling);
    }

    /// <summary>The parameters this adapter trains while active (A, B and, for DoRA, m).</summary>
    internal virtual IEnumerable<Parameter> Parameters()
    {
        yield return A.weight;
        yield return B.weight;
    }

    /// <summary>peft's <c>set_adapter</c>: an active adapter trains, an inactive one is frozen.</summary>
    internal void SetTrainable(bool trainable)
    {
        foreach (var parameter in Parameters()) parameter.requires_grad = trainable;
    }

    /// <summary>Adds this adapter's term to the pass's accumulator.</summary>
    internal abstract void AddTo(AdapterForward pass);

    /// <summary>W ← the weight with this adapter merged, in place; W (out, in) in a working dtype (fp32 or fp64).</summary>
    internal abstract void MergeInto(Tensor weight);

    /// <summary>The exact inverse of <see cref="MergeInto"/> (up to float rounding), in place.</summary>
    internal abstract void UnmergeFrom(Tensor weight);

    /// <summary>Drops what a merge kept for its unmerge (DoRA's per-row factor).</summary>
    internal virtual void ForgetMerge() { }

    /// <summary>
    /// The input in the adapter's dtype with dropout applied: x itself when neither changes it, else a new
    /// tensor the caller disposes (see <see cref="ReleaseInput"/>).
    /// </summary>
    private protected Tensor DroppedInput(AdapterForward pass) => Dropout.forward(pass.Input(DType));

    private protected static void ReleaseInput(AdapterForward pass, Tensor dropped)
    {
        if (!pass.IsSharedInput(dropped)) dropped.Dispose();
    }

    /// <summary>(out,) L2 norm of each row of an (out, in) matrix.</summary>
    private protected static Tensor RowNorms(Tensor weight) => linalg.vector_norm(weight, ord: 2, dims: [1]);
}
