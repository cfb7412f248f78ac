using System.Composition;
using LoraGen.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.CodeFixes;

/// <summary>LORA006: removes <c>readonly</c> from the target field, keeping its trivia.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveReadonlyCodeFix)), Shared]
public sealed class RemoveReadonlyCodeFix() : SyntaxCodeFix<FieldDeclarationSyntax>(DiagnosticDescriptors.ReadonlyTarget.Id)
{
    protected override string Title(FieldDeclarationSyntax node) => "Remove 'readonly'";

    protected override SyntaxNode? Rewrite(FieldDeclarationSyntax field)
    {
        int index = field.Modifiers.IndexOf(SyntaxKind.ReadOnlyKeyword);
        if (index < 0) return null;
        var removed = field.Modifiers[index];
        var modifiers = field.Modifiers.RemoveAt(index);
        if (index > 0) return field.WithModifiers(modifiers);
        // The first token carries the line's indentation: hand it to whatever comes first now.
        if (modifiers.Count > 0) return field.WithModifiers(modifiers.Replace(modifiers[0], modifiers[0].WithLeadingTrivia(removed.LeadingTrivia)));
        return field.WithModifiers(modifiers).WithDeclaration(field.Declaration.WithType(field.Declaration.Type.WithLeadingTrivia(removed.LeadingTrivia)));
    }
}
