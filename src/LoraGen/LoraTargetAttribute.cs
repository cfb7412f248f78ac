using LoraGen.Layers;

namespace LoraGen;

/// <summary>
/// Marks a layer field, or a whole model class, for LoRA. The LoraGen source generator turns it into
/// injection, merge/unmerge, typed accessors and a compile-time plan, and reports misconfigurations as
/// compiler diagnostics (LORA001...).
/// </summary>
/// <remarks>
/// On a field: that layer, declared as <c>Module&lt;Tensor, Tensor&gt;</c> and initialised with a Linear.
/// On a class: the layers chosen by <see cref="Strategy"/> or <see cref="Modules"/> anywhere in the tree
/// of module fields below it. The class (and every class on the path to a target) must be partial.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Field, AllowMultiple = false, Inherited = false)]
public sealed class LoraTargetAttribute : Attribute
{
    /// <param name="r">Rank of the update, at least 1.</param>
    /// <param name="alpha">Scale numerator, positive: the update is (alpha/r)·B·A. A real number, as peft's lora_alpha (<c>alpha: 32</c> and <c>alpha: 0.5</c> both work).</param>
    public LoraTargetAttribute(int r, double alpha)
    {
        R = r;
        Alpha = alpha;
    }

    public int R { get; }

    public double Alpha { get; }

    /// <summary>Dropout probability on the adapter path, in [0, 1).</summary>
    public double Dropout { get; set; }

    /// <summary>Scaling alpha/√r instead of alpha/r.</summary>
    public bool UseRsLora { get; set; }

    /// <summary>Weight-decomposed LoRA (a trained magnitude per output row).</summary>
    public bool UseDora { get; set; }

    public LoraInit Init { get; set; }

    public LoraBias Bias { get; set; }

    /// <summary>Class level only: a preset set of layer names (default <see cref="LoraStrategy.Original"/>).</summary>
    public LoraStrategy Strategy { get; set; }

    /// <summary>Class level only: layer names matched as peft matches them (exact path or dotted suffix); overrides <see cref="Strategy"/>.</summary>
    public string[]? Modules { get; set; }
}
