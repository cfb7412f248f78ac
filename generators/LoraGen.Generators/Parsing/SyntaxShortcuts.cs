using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.Parsing;

/// <summary>What a field's declared type says by its spelling alone.</summary>
internal enum DeclaredShape
{
    /// <summary>The spelling does not decide: bind the type.</summary>
    Unknown,
    /// <summary><c>Module&lt;Tensor, Tensor&gt;</c>, however qualified.</summary>
    ModuleOfTensor,
    /// <summary><c>Linear</c>, however qualified.</summary>
    Linear,
    /// <summary>A keyword type (<c>int</c>, <c>string</c>), a tuple, a pointer or an array of those: never a module.</summary>
    NotAModule,
}

/// <summary>
/// Answers from syntax what would otherwise need binding: binding field types, base types and attribute lists is
/// nearly all of the generator's cost, and the spelling settles the common cases. Every answer is either exact
/// (no attribute list means no attributes) or taken only when <see cref="KnownTypes.SpellingIsTorchSharp"/> says the
/// compilation declares no look-alike of the TorchSharp names; anything else falls back to the semantic model.
/// </summary>
internal static class SyntaxShortcuts
{
    /// <summary>The attributes of a symbol, bound only when its declarations show any.</summary>
    public static ImmutableArray<AttributeData> Attributes(ISymbol symbol)
    {
        foreach (var reference in symbol.DeclaringSyntaxReferences)
            if (MayHaveAttributes(reference.GetSyntax())) return symbol.GetAttributes();
        return ImmutableArray<AttributeData>.Empty;
    }

    /// <summary>False when the declaration carries no attribute list: the symbol then has no attributes to bind.</summary>
    public static bool MayHaveAttributes(SyntaxNode? declaration) => declaration switch
    {
        VariableDeclaratorSyntax { Parent.Parent: BaseFieldDeclarationSyntax field } => field.AttributeLists.Count > 0,
        MemberDeclarationSyntax member => member.AttributeLists.Count > 0,
        _ => true,   // unknown syntax counts as "may have"
    };

    /// <summary>The field's one declarator, or null (fields of metadata, or declared in several places).</summary>
    public static VariableDeclaratorSyntax? Declarator(IFieldSymbol field)
    {
        var references = field.DeclaringSyntaxReferences;
        return references.Length == 1 ? references[0].GetSyntax() as VariableDeclaratorSyntax : null;
    }

    public static DeclaredShape ShapeOf(VariableDeclaratorSyntax? declarator) =>
        declarator?.Parent is VariableDeclarationSyntax declaration ? ShapeOf(declaration.Type) : DeclaredShape.Unknown;

    private static DeclaredShape ShapeOf(TypeSyntax type)
    {
        switch (type)
        {
            case NullableTypeSyntax nullable: return ShapeOf(nullable.ElementType);   // Module<Tensor, Tensor>? is the same type
            case PredefinedTypeSyntax or TupleTypeSyntax or PointerTypeSyntax or FunctionPointerTypeSyntax: return DeclaredShape.NotAModule;
            case ArrayTypeSyntax array: return ShapeOf(array.ElementType) == DeclaredShape.NotAModule ? DeclaredShape.NotAModule : DeclaredShape.Unknown;
        }
        return RightmostName(type) switch
        {
            GenericNameSyntax { Identifier.ValueText: "Module", TypeArgumentList.Arguments: { Count: 2 } arguments }
                when arguments.All(a => RightmostName(a) is IdentifierNameSyntax { Identifier.ValueText: "Tensor" }) => DeclaredShape.ModuleOfTensor,
            IdentifierNameSyntax { Identifier.ValueText: "Linear" } => DeclaredShape.Linear,
            _ => DeclaredShape.Unknown,
        };
    }

    /// <summary>
    /// True when a declaration of the class names a generic <c>Module&lt;...&gt;</c> (however qualified) as its base:
    /// one of TorchSharp's module base classes (a plain <c>Module</c> could be System.Reflection's). False means
    /// "look it up", not "no".
    /// </summary>
    public static bool NamesModuleBase(INamedTypeSymbol type)
    {
        foreach (var reference in type.DeclaringSyntaxReferences)
            if (reference.GetSyntax() is ClassDeclarationSyntax { BaseList.Types: { Count: > 0 } bases })
                return RightmostName(bases[0].Type) is GenericNameSyntax { Identifier.ValueText: "Module" };
        return false;
    }

    private static SimpleNameSyntax? RightmostName(TypeSyntax type) => type switch
    {
        SimpleNameSyntax simple => simple,
        QualifiedNameSyntax qualified => qualified.Right,
        AliasQualifiedNameSyntax alias => alias.Name,
        _ => null,
    };
}
