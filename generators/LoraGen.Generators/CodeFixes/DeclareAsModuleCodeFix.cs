using System.Composition;
using LoraGen.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Simplification;

namespace LoraGen.Generators.CodeFixes;

/// <summary>LORA005: declares the target as <c>Module&lt;Tensor, Tensor&gt;</c>, simplified to the usings in scope.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(DeclareAsModuleCodeFix)), Shared]
public sealed class DeclareAsModuleCodeFix() : SyntaxCodeFix<VariableDeclarationSyntax>(DiagnosticDescriptors.DeclaredAsLinear.Id)
{
    private const string ModuleType = "global::TorchSharp.torch.nn.Module<global::TorchSharp.torch.Tensor, global::TorchSharp.torch.Tensor>";

    protected override string Title(VariableDeclarationSyntax node) => "Declare as Module<Tensor, Tensor>";

    protected override SyntaxNode Rewrite(VariableDeclarationSyntax declaration) =>
        declaration.WithType(SyntaxFactory.ParseTypeName(ModuleType)
            .WithTriviaFrom(declaration.Type)
            .WithAdditionalAnnotations(Simplifier.Annotation));
}
