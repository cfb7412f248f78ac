using System.Diagnostics;
using System.Text;
using LoraGen.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LoraGen.Benchmarks;

/// <summary>
/// The generator on a compilation of 500 annotated model classes: a full run, and an incremental run
/// after an edit that touches no annotated code (targets: under 100 ms and under 5 ms).
/// </summary>
internal static class GeneratorBenchmark
{
    private const int Classes = 500;

    public static void Run(bool quick)
    {
        var references = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => !a.IsDynamic && !string.IsNullOrEmpty(a.Location))
            .Select(a => MetadataReference.CreateFromFile(a.Location))
            .Append(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location))
            .Append(MetadataReference.CreateFromFile(typeof(LoraTargetAttribute).Assembly.Location))
            .Append(MetadataReference.CreateFromFile(typeof(object).Assembly.Location.Replace("System.Private.CoreLib", "System.Runtime")))
            .ToArray();
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = Enumerable.Range(0, Classes).Select(i => CSharpSyntaxTree.ParseText(ModelSource(i), options, path: $"Model{i}.cs")).ToList();
        var unrelated = CSharpSyntaxTree.ParseText("namespace Other; public static class Notes { public const int Version = 1; }", options, path: "Notes.cs");
        var compilation = CSharpCompilation.Create("Bench", trees.Append(unrelated), references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));

        int rounds = quick ? 3 : 10;
        var lora = Measure(new LoraTargetGenerator(), compilation, unrelated, options, rounds);
        var floor = Measure(new AttributeNamesGenerator(), compilation, unrelated, options, rounds);
        Console.WriteLine(SideBySide.Format($"generator on {Classes} annotated classes ({lora.Files} files generated, median of {rounds}, each run on a fresh compilation):"));
        Console.WriteLine(SideBySide.Format($"  LoraGen:     full run {lora.Full:F1} ms (target < 100) | incremental after an unrelated edit {lora.Incremental:F1} ms (target < 5)"));
        Console.WriteLine(SideBySide.Format($"  floor:       full run {floor.Full:F1} ms | incremental {floor.Incremental:F1} ms (the same attribute lookups, no analysis, one output)"));
        Console.WriteLine(SideBySide.Format($"  ratio LoraGen/floor: full {lora.Full / floor.Full:F2}x | incremental {lora.Incremental / floor.Incremental:F2}x"));
    }

    /// <summary>
    /// Median times of a full run and of an incremental run after an unrelated edit. Each round starts
    /// from a fresh clone of the compilation, so no bound symbols carry over between rounds or generators.
    /// </summary>
    private static (double Full, double Incremental, int Files) Measure(IIncrementalGenerator generator, Compilation compilation,
        SyntaxTree unrelated, CSharpParseOptions options, int rounds)
    {
        GeneratorDriver NewDriver() => CSharpGeneratorDriver.Create([generator.AsSourceGenerator()], parseOptions: options);
        NewDriver().RunGenerators(compilation.Clone());   // JIT warm-up
        var full = new List<double>();
        var incremental = new List<double>();
        int files = 0;
        for (int round = 0; round < rounds; round++)
        {
            var fresh = compilation.Clone();
            var clock = Stopwatch.StartNew();
            var driver = NewDriver().RunGenerators(fresh);
            full.Add(clock.Elapsed.TotalMilliseconds);
            files = driver.GetRunResult().GeneratedTrees.Length;

            var edited = fresh.ReplaceSyntaxTree(unrelated,
                CSharpSyntaxTree.ParseText($"namespace Other; public static class Notes {{ public const int Version = {round + 2}; }}", options, path: "Notes.cs"));
            clock.Restart();
            driver.RunGenerators(edited);
            incremental.Add(clock.Elapsed.TotalMilliseconds);
        }
        static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
        return (Median(full), Median(incremental), files);
    }

    /// <summary>
    /// The floor: the same three ForAttributeWithMetadataName registrations (classes, fields, [LoraModel] classes), whose
    /// transforms only read the target's name, and one small output. What any generator of this attribute pays.
    /// </summary>
    private sealed class AttributeNamesGenerator : IIncrementalGenerator
    {
        public void Initialize(IncrementalGeneratorInitializationContext context)
        {
            var classes = context.SyntaxProvider.ForAttributeWithMetadataName("LoraGen.LoraTargetAttribute",
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
                static (ctx, _) => ctx.TargetSymbol.Name);
            var fields = context.SyntaxProvider.ForAttributeWithMetadataName("LoraGen.LoraTargetAttribute",
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.VariableDeclaratorSyntax,
                static (ctx, _) => ctx.TargetSymbol.Name);
            var models = context.SyntaxProvider.ForAttributeWithMetadataName("LoraGen.LoraModelAttribute",
                static (node, _) => node is Microsoft.CodeAnalysis.CSharp.Syntax.ClassDeclarationSyntax,
                static (ctx, _) => ctx.TargetSymbol.Name);
            context.RegisterSourceOutput(classes.Collect().Combine(fields.Collect()).Combine(models.Collect()),
                static (spc, all) => spc.AddSource("Names.g.cs", $"// {all.Left.Left.Length} classes, {all.Left.Right.Length} fields, {all.Right.Length} models"));
        }
    }

    /// <summary>Half the classes use field-level targets, half a class-level strategy.</summary>
    private static string ModelSource(int i)
    {
        var text = new StringBuilder("""
            using LoraGen;
            using static TorchSharp.torch;
            using static TorchSharp.torch.nn;
            namespace Bench;

            """);
        text.Append(i % 2 == 0 ? "[LoraTarget(r: 8, alpha: 16, Strategy = LoraStrategy.Extended)]\n" : "");
        text.Append($"public sealed partial class Attention{i} : Module<Tensor, Tensor>\n{{\n");
        foreach (var name in new[] { "q_proj", "k_proj", "v_proj", "o_proj" })
        {
            string attribute = i % 2 == 1 && name is "q_proj" or "v_proj" ? "[LoraTarget(r: 16, alpha: 32)] " : "";
            text.Append($"    {attribute}private Module<Tensor, Tensor> {name} = Linear(64, 64);\n");
        }
        text.Append($"    public Attention{i}() : base(\"a{i}\") => RegisterComponents();\n");
        text.Append("    public override Tensor forward(Tensor x) => o_proj.forward(x);\n}\n");
        return text.ToString();
    }
}
