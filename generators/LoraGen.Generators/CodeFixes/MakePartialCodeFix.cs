using System.Composition;
using LoraGen.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.CodeFixes;

/// <summary>LORA004: adds <c>partial</c> to the class.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakePartialCodeFix)), Shared]
public sealed class MakePartialCodeFix() : SyntaxCodeFix<TypeDeclarationSyntax>(DiagnosticDescriptors.NotPartial.Id)
{
    protected override string Title(TypeDeclarationSyntax node) => $"Make '{node.Identifier.ValueText}' partial";

    /// <summary>partial goes last among the modifiers, as C# requires.</summary>
    protected override SyntaxNode Rewrite(TypeDeclarationSyntax declaration)
    {
        var partial = SyntaxFactory.Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(SyntaxFactory.Space);
        if (declaration.Modifiers.Count == 0)
        {
            // Keep the keyword's leading trivia (indentation, comments) in front of the new modifier.
            var keyword = declaration.Keyword;
            return declaration.WithKeyword(keyword.WithLeadingTrivia())
                .WithModifiers(SyntaxFactory.TokenList(partial.WithLeadingTrivia(keyword.LeadingTrivia)));
        }
        return declaration.WithModifiers(declaration.Modifiers.Add(partial));
    }
}
