using System.ComponentModel;

namespace LoraGen.Injection;

/// <summary>Implemented by generated code on every partial module class on the path to a LoRA target.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface ILoraComposite
{
    /// <summary>The swappable layer fields of this module and of its module children, paths prefixed by <paramref name="prefix"/>.</summary>
    IEnumerable<LoraSlot> LoraSlots(string prefix);
}
