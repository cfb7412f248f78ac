using System.Linq;
using LoraGen.Generators.Diagnostics;
using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Parsing;

/// <summary>
/// LORA011: [LoraTarget] or [LoraModel] where it can do nothing: on a type that is not a TorchSharp module class,
/// a static or abstract class, a static field, a field that is not a Linear layer, or a class-level selection
/// that selects nothing (<c>Modules = []</c>) or says two things (Strategy and Modules).
/// </summary>
internal static class AttributePlacement
{
    /// <returns>False when the type itself cannot be a model: nothing else is checked or generated for it.</returns>
    public static bool Check(INamedTypeSymbol type, KnownTypes known, DiagnosticSink sink)
    {
        var classAttribute = type.GetAttributes().FirstOrDefault(a => known.IsLoraTarget(a) || known.IsLoraModel(a));
        if (classAttribute is not null)
        {
            string name = known.IsLoraTarget(classAttribute) ? "[LoraTarget]" : "[LoraModel]";
            string? problem = type.IsRecord ? "a record is not a TorchSharp module"
                : type.IsStatic ? "a static class has no layers"
                : !known.IsSourceModuleClass(type) ? "it does not derive from TorchSharp's nn.Module"
                : type.IsAbstract ? "an abstract class is never the model that is built; put it on the concrete model class"
                : null;
            if (problem is not null)
            {
                sink.Report(DiagnosticDescriptors.IgnoredAttribute, AttributeReader.AttributeLocation(classAttribute), name, type.Name, problem);
                return false;
            }
            if (known.IsLoraTarget(classAttribute)) CheckSelection(classAttribute, type, sink);
        }

        foreach (var field in type.GetMembers().OfType<IFieldSymbol>())
        {
            var attribute = field.GetAttributes().FirstOrDefault(known.IsLoraTarget);
            if (attribute is null) continue;
            string? problem = field.IsStatic ? "a static field is not a layer of the module"
                : known.IsModuleOfTensor(field.Type) || known.IsLinear(field.Type) ? null
                : known.IsModule(field.Type) ? $"{field.Type.Name} layers cannot carry LoRA adapters; only Linear layers (declared Module<Tensor, Tensor>) can"
                : $"{field.Type.ToDisplayString()} is not a layer";
            if (problem is not null)
                sink.Report(DiagnosticDescriptors.IgnoredAttribute, AttributeReader.AttributeLocation(attribute), "[LoraTarget]", field.Name, problem);
        }
        return true;
    }

    private static void CheckSelection(AttributeData attribute, INamedTypeSymbol type, DiagnosticSink sink)
    {
        var modules = attribute.NamedArguments.FirstOrDefault(a => a.Key == "Modules").Value;
        bool hasModules = modules.Kind == TypedConstantKind.Array && !modules.IsNull;
        if (hasModules && !modules.Values.Any(v => v.Value is string s && !string.IsNullOrWhiteSpace(s)))
            sink.Report(DiagnosticDescriptors.IgnoredAttribute, AttributeReader.AttributeLocation(attribute), "[LoraTarget]", type.Name, "Modules names no module");
        if (hasModules && attribute.NamedArguments.Any(a => a.Key == "Strategy"))
            sink.Report(DiagnosticDescriptors.IgnoredAttribute, AttributeReader.AttributeLocation(attribute), "[LoraTarget]", type.Name, "Strategy is ignored when Modules is set; keep one of them");
    }
}
