using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using LoraGen.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.CodeFixes;

/// <summary>LORA006: removes <c>readonly</c> from the target field, keeping its trivia.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveReadonlyCodeFix)), Shared]
public sealed class RemoveReadonlyCodeFix : CodeFixProvider
{
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = [DiagnosticDescriptors.ReadonlyTarget.Id];

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var field = root?.FindNode(context.Span).AncestorsAndSelf().OfType<FieldDeclarationSyntax>().FirstOrDefault();
        if (root is null || field is null) return;
        var index = field.Modifiers.IndexOf(SyntaxKind.ReadOnlyKeyword);
        if (index < 0) return;
        context.RegisterCodeFix(
            CodeAction.Create("Remove 'readonly'",
                _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(field, RemoveModifier(field, index)))),
                nameof(RemoveReadonlyCodeFix)),
            context.Diagnostics);
    }

    private static FieldDeclarationSyntax RemoveModifier(FieldDeclarationSyntax field, int index)
    {
        var removed = field.Modifiers[index];
        var modifiers = field.Modifiers.RemoveAt(index);
        if (index == 0)
        {
            // The first token carries the line's indentation: hand it to whatever comes first now.
            if (modifiers.Count > 0) modifiers = modifiers.Replace(modifiers[0], modifiers[0].WithLeadingTrivia(removed.LeadingTrivia));
            else return field.WithModifiers(modifiers).WithDeclaration(field.Declaration.WithType(field.Declaration.Type.WithLeadingTrivia(removed.LeadingTrivia)));
        }
        return field.WithModifiers(modifiers);
    }
}
