using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.Parsing;

/// <summary>A layer field of a module class: a possible LoRA target.</summary>
/// <param name="IsSwappable">Declared <c>Module&lt;Tensor, Tensor&gt;</c> and not readonly: generated code can replace it.</param>
internal sealed class LayerField(
    IFieldSymbol symbol, string registeredName, bool declaredAsLinear, bool isReadonly, AttributeData? attribute, System.Func<LayerInitializer> initializer)
{
    private LayerInitializer? _initializer;

    public IFieldSymbol Symbol => symbol;
    public string RegisteredName => registeredName;
    public bool DeclaredAsLinear => declaredAsLinear;
    public bool IsReadonly => isReadonly;
    public bool IsSwappable => !declaredAsLinear && !isReadonly;
    public AttributeData? Attribute => attribute;

    /// <summary>Read on first use: binding initializers is the costly part, and most fields never need it.</summary>
    public LayerInitializer Initializer => _initializer ??= initializer();
}

/// <summary>A field holding a module class of the compilation, or a ModuleList of one.</summary>
internal sealed record ChildField(IFieldSymbol Symbol, string RegisteredName, bool IsList, ModuleNode Node);

/// <summary>
/// One module class of the model tree, with its layer fields and module children. Symbols live here only
/// during a parse; the pipeline keeps the value models built from it.
/// </summary>
internal sealed class ModuleNode
{
    public ModuleNode(INamedTypeSymbol type) => Type = type;

    public INamedTypeSymbol Type { get; }
    public List<LayerField> Layers { get; } = [];
    public List<ChildField> Children { get; } = [];

    /// <summary>Whether any layer field is in this class or below it.</summary>
    public bool HasLayersBelow { get; set; }

    /// <summary>The class and all its containing types are partial, so code can be generated into it.</summary>
    public bool IsPartial { get; set; }

    /// <summary>The first type of the chain (this class, then its containers) that is not partial.</summary>
    public INamedTypeSymbol? FirstNonPartial { get; set; }

    /// <summary>Fields (or a base class) holding layers that the walk cannot enter, with the reason: LORA015.</summary>
    public List<(ISymbol Where, string What, string Why)> Unreached { get; } = [];
}

/// <summary>Builds the tree of module classes below a root, following field types through the compilation.</summary>
internal sealed class ModelTree(SemanticModels models, KnownTypes known, CancellationToken ct)
{
    private readonly Dictionary<INamedTypeSymbol, ModuleNode> _nodes = new(SymbolEqualityComparer.Default);

    public ModuleNode Build(INamedTypeSymbol type) => Visit(type, new HashSet<INamedTypeSymbol>(SymbolEqualityComparer.Default));

    private ModuleNode Visit(INamedTypeSymbol type, HashSet<INamedTypeSymbol> onPath)
    {
        if (_nodes.TryGetValue(type, out var existing)) return existing;
        var node = new ModuleNode(type);
        _nodes[type] = node;
        onPath.Add(type);
        node.FirstNonPartial = FirstNonPartial(type);
        node.IsPartial = node.FirstNonPartial is null;

        foreach (var member in type.GetMembers())
        {
            if (member is not IFieldSymbol { IsStatic: false, IsImplicitlyDeclared: false, IsConst: false } field) continue;
            ct.ThrowIfCancellationRequested();
            var declarator = SyntaxShortcuts.Declarator(field);
            var shape = known.ShapeOf(field, declarator);
            if (shape == DeclaredShape.NotAModule) continue;
            var attributes = SyntaxShortcuts.MayHaveAttributes(declarator) ? field.GetAttributes() : ImmutableArray<AttributeData>.Empty;
            var name = RegisteredName(field, attributes);
            bool declaredLinear = shape == DeclaredShape.Linear || shape == DeclaredShape.Unknown && known.IsLinear(field.Type);
            if (declaredLinear || shape == DeclaredShape.ModuleOfTensor || shape == DeclaredShape.Unknown && known.IsModuleOfTensor(field.Type))
            {
                var attribute = attributes.FirstOrDefault(known.IsLoraTarget);
                node.Layers.Add(new LayerField(field, name, declaredLinear, field.IsReadOnly, attribute,
                    () => LayerInitializer.Of(field, declarator, models, known, ct)));
                continue;
            }

            if (known.UnreachableContainer(field.Type) is { } why)
            {
                node.Unreached.Add((field, field.Type.ToDisplayString(), why));
                continue;
            }
            var element = known.ModuleListElement(field.Type);
            var childType = (element ?? field.Type) as INamedTypeSymbol;
            if (childType is null || !known.IsSourceModuleClass(childType)) continue;
            // A class already on the path (A holds a B that may hold an A) is linked, not walked again: the generated
            // code then follows the objects at run time, down to the first null.
            var child = onPath.Contains(childType) ? _nodes[childType] : Visit(childType, onPath);
            node.Children.Add(new ChildField(field, name, IsList: element is not null, child));
        }

        if (known.SourceModuleBase(type) is { } baseType
            && baseType.GetMembers().OfType<IFieldSymbol>().Any(f => !f.IsStatic && (known.IsModuleOfTensor(f.Type) || known.IsLinear(f.Type))))
            node.Unreached.Add((type, "base class " + baseType.Name, "fields declared in a base class are not followed; declare the layers in the model class, or hold the base as a field"));
        node.HasLayersBelow = node.Layers.Count > 0 || node.Children.Any(c => c.Node.HasLayersBelow);
        onPath.Remove(type);
        return node;
    }

    /// <summary>TorchSharp registers a field under its name, or under [ComponentName(Name = ...)].</summary>
    private string RegisteredName(IFieldSymbol field, ImmutableArray<AttributeData> attributes)
    {
        var attribute = attributes.FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, known.ComponentName));
        var named = attribute?.NamedArguments.FirstOrDefault(a => a.Key == "Name").Value.Value as string;
        return string.IsNullOrEmpty(named) ? field.Name : named!;
    }

    private static INamedTypeSymbol? FirstNonPartial(INamedTypeSymbol type)
    {
        for (var current = type; current is not null; current = current.ContainingType)
        {
            bool partial = current.DeclaringSyntaxReferences
                .Select(r => r.GetSyntax())
                .OfType<TypeDeclarationSyntax>()
                .Any(d => d.Modifiers.Any(SyntaxKind.PartialKeyword));
            if (!partial) return current;
        }
        return null;
    }
}
