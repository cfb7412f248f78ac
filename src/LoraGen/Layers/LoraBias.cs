namespace LoraGen.Layers;

/// <summary>Which biases train alongside the adapters (peft's <c>bias</c>).</summary>
public enum LoraBias
{
    /// <summary>No bias trains.</summary>
    None,

    /// <summary>Every bias of the model trains.</summary>
    All,

    /// <summary>Only the biases of adapted layers train.</summary>
    LoraOnly,
}
