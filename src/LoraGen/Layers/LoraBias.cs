// Linked into the source generator too (see LoraStrategy.cs).
namespace LoraGen.Layers;

/// <summary>Which biases train alongside the adapters (peft's <c>bias</c>).</summary>
#if LORAGEN_GENERATOR
internal
#else
public
#endif
enum LoraBias
{
    /// <summary>No bias trains.</summary>
    None,

    /// <summary>Every bias of the model trains.</summary>
    All,

    /// <summary>Only the biases of adapted layers train.</summary>
    LoraOnly,
}
