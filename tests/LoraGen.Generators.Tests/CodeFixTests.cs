using LoraGen.Generators.CodeFixes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;

namespace LoraGen.Generators.Tests;

public class CodeFixTests
{
    /// <summary>Runs the analyzer on <paramref name="source"/>, applies the fix to its one <paramref name="id"/>, returns the new text.</summary>
    private static async Task<string> Fix(CodeFixProvider provider, string source, string id)
    {
        using var workspace = new AdhocWorkspace();
        var project = workspace.AddProject("Models", LanguageNames.CSharp)
            .WithMetadataReferences(GeneratorHarness.References)
            .WithParseOptions(GeneratorHarness.ParseOptions)
            .WithCompilationOptions(GeneratorHarness.CompilationOptions);
        var document = project.AddDocument("Model.cs", source);
        var compilation = (await document.Project.GetCompilationAsync())!;
        var diagnostic = Assert.Single(GeneratorHarness.Analyze(compilation), d => d.Id == id);

        var actions = new List<CodeAction>();
        await provider.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostic, (action, _) => actions.Add(action), CancellationToken.None));
        var operation = Assert.IsType<ApplyChangesOperation>(Assert.Single(await Assert.Single(actions).GetOperationsAsync(CancellationToken.None)));
        var fixedDocument = operation.ChangedSolution.GetDocument(document.Id)!;
        var fixedCompilation = (await fixedDocument.Project.GetCompilationAsync())!;
        Assert.DoesNotContain(GeneratorHarness.Analyze(fixedCompilation), d => d.Id == id);
        return (await fixedDocument.GetTextAsync()).ToString();
    }

    private static string Model(string classModifiers, string field) => Sources.Usings + $$"""
        namespace Demo;

        {{classModifiers}} class Attention : Module<Tensor, Tensor>
        {
            {{field}}
            public Attention() : base("attn") { }
            public override Tensor forward(Tensor x) => x;
        }
        """;

    [Fact]
    public async Task LORA004_fix_adds_partial()
    {
        const string field = "[LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);";
        var result = await Fix(new MakePartialCodeFix(), Model("public sealed", field), "LORA004");
        Assert.Equal(Model("public sealed partial", field), result);
    }

    [Fact]
    public async Task LORA004_fix_works_without_other_modifiers()
    {
        const string field = "[LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);";
        var source = Model("public", field).Replace("public class Attention", "class Attention");
        var result = await Fix(new MakePartialCodeFix(), source, "LORA004");
        Assert.Equal(Model("partial", field), result);
    }

    [Fact]
    public async Task LORA005_fix_declares_the_field_as_Module_of_Tensor()
    {
        var result = await Fix(new DeclareAsModuleCodeFix(),
            Model("public partial", "[LoraTarget(r: 8, alpha: 16)] private Linear q_proj = Linear(8, 8);"), "LORA005");
        Assert.Equal(Model("public partial", "[LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);"), result);
    }

    [Fact]
    public async Task LORA006_fix_removes_readonly()
    {
        var result = await Fix(new RemoveReadonlyCodeFix(),
            Model("public partial", "[LoraTarget(r: 8, alpha: 16)] private readonly Module<Tensor, Tensor> q_proj = Linear(8, 8);"), "LORA006");
        Assert.Equal(Model("public partial", "[LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);"), result);
    }
}
