namespace LoraGen.Generators.Model;

/// <summary>Where a generated partial declaration goes.</summary>
/// <param name="Namespace">Null for the global namespace.</param>
/// <param name="Declarations">Partial declaration headers, outermost first, e.g. <c>partial class Outer&lt;T&gt;</c>.</param>
/// <param name="MetadataName">Unique name used for the generated file, e.g. <c>Models.Outer`1+Attention</c>.</param>
internal sealed record TypeSpec(string? Namespace, EquatableArray<string> Declarations, string MetadataName);
