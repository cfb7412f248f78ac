using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;

namespace LoraGen.Generators.CodeFixes;

/// <summary>
/// The shape of every LoraGen code fix: find the node of type <typeparamref name="TNode"/> around the
/// diagnostic and replace it with a rewritten one. Subclasses say which diagnostic, what title, what rewrite.
/// </summary>
public abstract class SyntaxCodeFix<TNode> : CodeFixProvider where TNode : SyntaxNode
{
    private readonly string _diagnosticId;

    protected SyntaxCodeFix(string diagnosticId) => _diagnosticId = diagnosticId;

    public sealed override ImmutableArray<string> FixableDiagnosticIds => [_diagnosticId];

    public sealed override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    protected abstract string Title(TNode node);

    /// <summary>The replacement, or null when this node cannot be fixed.</summary>
    protected abstract SyntaxNode? Rewrite(TNode node);

    public sealed override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var node = root?.FindNode(context.Span).AncestorsAndSelf().OfType<TNode>().FirstOrDefault();
        if (root is null || node is null || Rewrite(node) is not { } replacement) return;
        context.RegisterCodeFix(
            CodeAction.Create(Title(node), _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(node, replacement))), GetType().Name),
            context.Diagnostics);
    }
}
