using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Diagnostics;

/// <summary>Every LoraGen diagnostic. IDs are stable; each is listed in AnalyzerReleases.*.md.</summary>
public static class DiagnosticDescriptors
{
    private const string Category = "LoraGen";

    public static readonly DiagnosticDescriptor RankTooSmall = new(
        "LORA001", "LoRA rank must be at least 1",
        "[LoraTarget] on '{0}': r must be at least 1; got {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor AlphaNotPositive = new(
        "LORA002", "LoRA alpha must be positive",
        "[LoraTarget] on '{0}': alpha must be a positive finite number; got {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DropoutOutOfRange = new(
        "LORA003", "LoRA dropout must be in [0, 1)",
        "[LoraTarget] on '{0}': Dropout must be in [0, 1); got {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotPartial = new(
        "LORA004", "A class that holds LoRA targets must be partial",
        "'{0}' must be partial: LoraGen generates the adapter code of {1} into it",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DeclaredAsLinear = new(
        "LORA005", "A LoRA target cannot be declared as the sealed Linear",
        "LoRA target '{0}' is declared as Linear, which is sealed and cannot hold the adapter; declare it as Module<Tensor, Tensor>",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ReadonlyTarget = new(
        "LORA006", "A LoRA target cannot be readonly",
        "LoRA target '{0}' is readonly, so the adapter cannot replace it; remove 'readonly'",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotALinear = new(
        "LORA007", "A LoRA target must be a Linear layer",
        "LoRA target '{0}' is initialised with {1}, not a Linear; only Linear layers can be adapted",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnmatchedModule = new(
        "LORA008", "A LoRA target name matches no layer",
        "[LoraTarget] on '{0}': {1} '{2}' matches no layer of the model (layers: {3})",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor RankAboveLayerSize = new(
        "LORA009", "LoRA rank exceeds the layer's size",
        "LoRA target '{0}': r = {1} is greater than min(in, out) = {2} of a {3}x{4} layer; the update cannot have that rank",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor TargetedTwice = new(
        "LORA010", "The same layer is targeted twice with different settings",
        "LoRA target '{0}' has its own [LoraTarget] ({1}) and is also chosen by '{2}' with different settings ({3})",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor IgnoredAttribute = new(
        "LORA011", "This [LoraTarget] or [LoraModel] does nothing",
        "{0} on '{1}' does nothing: {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor AccessorClash = new(
        "LORA012", "A generated accessor would clash with another member",
        "The typed accessor '{0}' for LoRA target '{1}' would clash with {2}; rename one of them (no accessor is generated for '{1}')",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor SettingDiffersWithinAdapter = new(
        "LORA013", "A setting peft stores once per adapter differs between layers",
        "LoRA target '{0}' has {1} = {2} while '{3}' has {4}: peft stores {1} once per adapter, so PeftAdapter.Save will refuse this adapter (give every layer the same {1}, or use two adapters)",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor FileLocalClass = new(
        "LORA014", "A file-local class cannot receive generated code",
        "'{0}' is file-local: generated code lives in another file and cannot extend it; make the class internal or public",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnreachedLayers = new(
        "LORA015", "Layers held where LoraGen cannot reach them",
        "The layers in '{0}' ({1}) are not reached by LoRA targets or run-time adapters: {2}",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);
}
