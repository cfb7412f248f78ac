namespace LoraGen.Generators.Model;

/// <summary>A swappable layer field: declared <c>Module&lt;Tensor, Tensor&gt;</c> and not readonly.</summary>
/// <param name="RegisteredName">The submodule name TorchSharp registers it under (field name or [ComponentName]).</param>
/// <param name="FieldSettings">Its own [LoraTarget], if any.</param>
internal sealed record SlotFieldSpec(string FieldName, string RegisteredName, TargetSettings? FieldSettings);

/// <summary>A field holding a module class (or a ModuleList of one) that has LoRA slots below it.</summary>
internal sealed record ChildFieldSpec(string FieldName, string RegisteredName, bool IsList);

/// <summary>One adapted layer of a root's compile-time plan.</summary>
/// <param name="Path">Module path from the root, <c>{i}</c> for ModuleList indices.</param>
internal sealed record PlanEntrySpec(string Path, TargetSettings Settings, long? InFeatures, long? OutFeatures);

/// <summary>The entry points of an annotated class: ApplyLora, merge, the plan.</summary>
/// <param name="ClassTargetNames">Names or path patterns the class-level attribute adapts; empty without one.</param>
internal sealed record EntrySpec(EquatableArray<string> ClassTargetNames, TargetSettings? ClassSettings, EquatableArray<PlanEntrySpec> Plan);

/// <summary>Everything generated for one partial module class.</summary>
/// <param name="TargetedFields">Slot fields some root adapts: each gets a typed accessor.</param>
/// <param name="Entry">Set on annotated classes only.</param>
internal sealed record HostSpec(
    TypeSpec Type,
    EquatableArray<SlotFieldSpec> Slots,
    EquatableArray<ChildFieldSpec> Children,
    EquatableArray<string> TargetedFields,
    EntrySpec? Entry);

/// <summary>What one annotated class sees: itself and every host class below it.</summary>
internal sealed record RootModel(string RootMetadataName, EquatableArray<HostSpec> Hosts);
