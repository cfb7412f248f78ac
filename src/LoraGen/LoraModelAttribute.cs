namespace LoraGen;

/// <summary>
/// Marks a model class for adapters chosen at run time only (a <see cref="Adapters.PeftLoraConfig"/>, or a peft
/// adapter folder loaded with <see cref="Checkpoints.PeftAdapter.Load(TorchSharp.torch.nn.Module, string, string, bool)"/>): the source generator writes the layer
/// slots of its tree of module classes and the model-level API (<c>ApplyLora(config)</c>, <c>SetActiveAdapters</c>,
/// <c>DisableAdapters</c>, <c>DeleteAdapter</c>, <c>MergeAndUnload</c>, <c>Unload</c>, <c>TrainableParameters</c>)
/// without declaring any adapter of its own. A class with a class-level <see cref="LoraTargetAttribute"/> gets
/// the same API and needs no marker.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class LoraModelAttribute : Attribute;
