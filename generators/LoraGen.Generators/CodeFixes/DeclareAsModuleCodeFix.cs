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
using Microsoft.CodeAnalysis.Simplification;

namespace LoraGen.Generators.CodeFixes;

/// <summary>LORA005: declares the target as <c>Module&lt;Tensor, Tensor&gt;</c>, simplified to the usings in scope.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(DeclareAsModuleCodeFix)), Shared]
public sealed class DeclareAsModuleCodeFix : CodeFixProvider
{
    private const string ModuleType = "global::TorchSharp.torch.nn.Module<global::TorchSharp.torch.Tensor, global::TorchSharp.torch.Tensor>";

    public override ImmutableArray<string> FixableDiagnosticIds { get; } = [DiagnosticDescriptors.DeclaredAsLinear.Id];

    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        var declaration = root?.FindNode(context.Span).AncestorsAndSelf().OfType<VariableDeclarationSyntax>().FirstOrDefault();
        if (root is null || declaration is null) return;
        var moduleType = SyntaxFactory.ParseTypeName(ModuleType)
            .WithTriviaFrom(declaration.Type)
            .WithAdditionalAnnotations(Simplifier.Annotation);
        context.RegisterCodeFix(
            CodeAction.Create("Declare as Module<Tensor, Tensor>",
                _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(declaration.Type, moduleType))),
                nameof(DeclareAsModuleCodeFix)),
            context.Diagnostics);
    }
}
