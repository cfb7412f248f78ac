using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Parsing;

/// <summary>The TorchSharp and LoraGen types the parser recognises, looked up once per parse.</summary>
internal sealed class KnownTypes
{
    public const string LoraTargetAttributeName = "LoraGen.LoraTargetAttribute";
    public const string LoraModelAttributeName = "LoraGen.LoraModelAttribute";

    private KnownTypes(Compilation compilation)
    {
        LoraTargetAttribute = compilation.GetTypeByMetadataName(LoraTargetAttributeName);
        LoraModelAttribute = compilation.GetTypeByMetadataName(LoraModelAttributeName);
        Module = compilation.GetTypeByMetadataName("TorchSharp.torch+nn+Module");
        ModuleOfTensor = compilation.GetTypeByMetadataName("TorchSharp.torch+nn+Module`2");
        Tensor = compilation.GetTypeByMetadataName("TorchSharp.torch+Tensor");
        Linear = compilation.GetTypeByMetadataName("TorchSharp.Modules.Linear");
        ModuleList = compilation.GetTypeByMetadataName("TorchSharp.Modules.ModuleList`1");
        Sequential = compilation.GetTypeByMetadataName("TorchSharp.Modules.Sequential");
        ModuleDict = compilation.GetTypeByMetadataName("TorchSharp.Modules.ModuleDict`1");
        ComponentName = compilation.GetTypeByMetadataName("TorchSharp.Utils.ComponentNameAttribute");
        SpellingIsTorchSharp = !LookAlikeNames.Any(name => compilation.ContainsSymbolsWithName(name, SymbolFilter.Type)) && !HasLookAlikeAlias(compilation);
    }

    private static readonly string[] LookAlikeNames = ["Module", "Tensor", "Linear"];

    /// <summary>
    /// No source type and no using alias of the compilation is named Module, Tensor or Linear, so those spellings in a
    /// module class mean TorchSharp's types and <see cref="SyntaxShortcuts"/> may read them without binding (a class's
    /// own type parameter of such a name is checked where the class is read).
    /// </summary>
    public bool SpellingIsTorchSharp { get; }

    /// <summary>A <c>using Linear = ...;</c> anywhere (file, global or namespace level): the spelling then means what the alias says.</summary>
    private static bool HasLookAlikeAlias(Compilation compilation)
    {
        // Only the using lists of files and namespaces are read (no walk into types): cheap even for large compilations.
        static bool Aliases(SyntaxList<Microsoft.CodeAnalysis.CSharp.Syntax.UsingDirectiveSyntax> usings) =>
            usings.Any(u => u.Alias is { } alias && LookAlikeNames.Contains(alias.Name.Identifier.ValueText));
        static bool InNamespaces(SyntaxList<Microsoft.CodeAnalysis.CSharp.Syntax.MemberDeclarationSyntax> members) =>
            members.OfType<Microsoft.CodeAnalysis.CSharp.Syntax.BaseNamespaceDeclarationSyntax>().Any(ns => Aliases(ns.Usings) || InNamespaces(ns.Members));
        return compilation.SyntaxTrees.Any(tree => tree.GetRoot() is Microsoft.CodeAnalysis.CSharp.Syntax.CompilationUnitSyntax unit && (Aliases(unit.Usings) || InNamespaces(unit.Members)));
    }

    /// <summary>The declared shape of a field from its spelling, where the spelling can be trusted.</summary>
    public DeclaredShape ShapeOf(IFieldSymbol field, Microsoft.CodeAnalysis.CSharp.Syntax.VariableDeclaratorSyntax? declarator)
    {
        var shape = SyntaxShortcuts.ShapeOf(declarator);
        return shape == DeclaredShape.NotAModule || TrustsSpellingIn(field.ContainingType) ? shape : DeclaredShape.Unknown;
    }

    /// <summary>The spelling can be trusted inside <paramref name="type"/>: no look-alike in the compilation, and no type parameter of it or its containers named like one.</summary>
    private bool TrustsSpellingIn(INamedTypeSymbol type)
    {
        if (!SpellingIsTorchSharp) return false;
        for (var current = type; current is not null; current = current.ContainingType)
            if (current.TypeParameters.Any(p => LookAlikeNames.Contains(p.Name))) return false;
        return true;
    }

    /// <summary>The base class when it is a module class of the compilation (whose fields the walk would miss), else null.</summary>
    public INamedTypeSymbol? SourceModuleBase(INamedTypeSymbol type) =>
        !(TrustsSpellingIn(type) && SyntaxShortcuts.NamesModuleBase(type)) && type.BaseType is { } baseType && IsSourceModuleClass(baseType) ? baseType : null;

    // One lookup per compilation, shared by every class parsed in it (weakly held: never a pipeline model).
    private static readonly ConditionalWeakTable<Compilation, KnownTypes> Cache = new();

    /// <summary>Null when the compilation lacks TorchSharp or the runtime: nothing to do then.</summary>
    public static KnownTypes? From(Compilation compilation)
    {
        var known = Cache.GetValue(compilation, c => new KnownTypes(c));
        return known.LoraTargetAttribute is null || known.Module is null || known.ModuleOfTensor is null
               || known.Tensor is null || known.Linear is null ? null : known;
    }

    public INamedTypeSymbol? LoraTargetAttribute { get; }
    public INamedTypeSymbol? LoraModelAttribute { get; }
    public INamedTypeSymbol? Module { get; }
    public INamedTypeSymbol? ModuleOfTensor { get; }
    public INamedTypeSymbol? Tensor { get; }
    public INamedTypeSymbol? Linear { get; }
    public INamedTypeSymbol? ModuleList { get; }
    public INamedTypeSymbol? Sequential { get; }
    public INamedTypeSymbol? ModuleDict { get; }

    /// <summary>Why LoraGen cannot see the layers a field of this type holds, or null when it can (or it holds none).</summary>
    public string? UnreachableContainer(ITypeSymbol type)
    {
        if (SymbolEqualityComparer.Default.Equals(type, Sequential)) return "a Sequential: its layers are not fields LoraGen can replace";
        if (type is INamedTypeSymbol { IsGenericType: true } generic && SymbolEqualityComparer.Default.Equals(generic.OriginalDefinition, ModuleDict))
            return "a ModuleDict: its layers are not fields LoraGen can replace";
        if (ModuleListElement(type) is { } element && !IsSourceModuleClass(element))
            return ModuleListElement(element) is not null ? "a ModuleList of ModuleLists: only one level of list is followed"
                : $"a ModuleList of {element.Name}: only lists of partial module classes are followed";
        return null;
    }
    public INamedTypeSymbol? ComponentName { get; }

    /// <summary><c>Module&lt;Tensor, Tensor&gt;</c> exactly: the declared type of a swappable layer.</summary>
    public bool IsModuleOfTensor(ITypeSymbol type) =>
        type is INamedTypeSymbol { IsGenericType: true } named
        && SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, ModuleOfTensor)
        && named.TypeArguments.Length == 2
        && SymbolEqualityComparer.Default.Equals(named.TypeArguments[0], Tensor)
        && SymbolEqualityComparer.Default.Equals(named.TypeArguments[1], Tensor);

    public bool IsLinear(ITypeSymbol? type) => SymbolEqualityComparer.Default.Equals(type, Linear);

    public bool IsLoraTarget(AttributeData attribute) =>
        SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, LoraTargetAttribute);

    public bool IsLoraModel(AttributeData attribute) =>
        LoraModelAttribute is not null && SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, LoraModelAttribute);

    /// <summary>A class-level [LoraTarget] or [LoraTarget] on one of its fields: the class is a root through those.</summary>
    public bool HasLoraTargets(INamedTypeSymbol type) =>
        SyntaxShortcuts.Attributes(type).Any(IsLoraTarget) || type.GetMembers().OfType<IFieldSymbol>().Any(f => SyntaxShortcuts.Attributes(f).Any(IsLoraTarget));

    /// <summary>Any TorchSharp module type (a layer such as Embedding, or a module class).</summary>
    public bool IsModule(ITypeSymbol type)
    {
        for (var current = type as INamedTypeSymbol; current is not null; current = current.BaseType)
            if (SymbolEqualityComparer.Default.Equals(current, Module)) return true;
        return false;
    }

    /// <summary>A class declared in source that derives from TorchSharp's Module.</summary>
    public bool IsSourceModuleClass(ITypeSymbol type)
    {
        if (type is not INamedTypeSymbol { TypeKind: TypeKind.Class } named || named.DeclaringSyntaxReferences.Length == 0) return false;
        if (TrustsSpellingIn(named) && SyntaxShortcuts.NamesModuleBase(named)) return true;
        for (var current = named.BaseType; current is not null; current = current.BaseType)
            if (SymbolEqualityComparer.Default.Equals(current, Module)) return true;
        return false;
    }

    /// <summary>The element type of <c>ModuleList&lt;T&gt;</c>, else null.</summary>
    public ITypeSymbol? ModuleListElement(ITypeSymbol type) =>
        type is INamedTypeSymbol { IsGenericType: true } named && SymbolEqualityComparer.Default.Equals(named.OriginalDefinition, ModuleList)
            ? named.TypeArguments[0]
            : null;
}
