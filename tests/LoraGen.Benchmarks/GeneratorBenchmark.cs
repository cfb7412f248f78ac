using System.Diagnostics;
using System.Text;
using LoraGen.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LoraGen.Benchmarks;

/// <summary>
/// The generator on a compilation of 500 annotated model classes: a full run, and an incremental run
/// after an edit that touches no annotated code, side by side with a floor generator that only does the attribute lookups.
/// </summary>
internal static class GeneratorBenchmark
{
    private const int Classes = 500;

    // Until tiered JIT has compiled Roslyn's binder and the generators at full optimisation: earlier rounds run 20-60% slower.
    private const int WarmUpRounds = 12;

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

        int rounds = quick ? 5 : 21;
        var (lora, floor) = Measure(new LoraTargetGenerator(), new AttributeNamesGenerator(), compilation, unrelated, options, rounds);
        Console.WriteLine(SideBySide.Format($"generator on {Classes} annotated classes ({lora.Files} files generated, median of {rounds} interleaved rounds, each on a fresh compilation):"));
        Console.WriteLine(SideBySide.Format($"  LoraGen:     full run {lora.Full:F1} ms, {lora.FullMegabytes:F1} MB allocated | incremental after an unrelated edit {lora.Incremental:F1} ms"));
        Console.WriteLine(SideBySide.Format($"  floor:       full run {floor.Full:F1} ms, {floor.FullMegabytes:F1} MB allocated | incremental {floor.Incremental:F1} ms (the same attribute lookups, no analysis, one output)"));
        Console.WriteLine(SideBySide.Format($"  ratio LoraGen/floor: full {lora.Full / floor.Full:F2}x | incremental {lora.Incremental / floor.Incremental:F2}x (goal: at most 1.5x in both)"));
    }

    private sealed record Timings(double Full, double Incremental, double FullMegabytes, int Files);

    /// <summary>
    /// Median times of a full run and of an incremental run after an unrelated edit, for both generators. Rounds
    /// alternate which generator goes first, so JIT tiering of Roslyn's binder favours neither; every run starts from
    /// a fresh clone of the compilation (no bound symbols carry over) and a settled heap, so a run pays for the
    /// collections its own allocations cause, not for garbage the run before left (the allocations are printed).
    /// </summary>
    private static (Timings Subject, Timings Floor) Measure(IIncrementalGenerator subject, IIncrementalGenerator floor, Compilation compilation,
        SyntaxTree unrelated, CSharpParseOptions options, int rounds)
    {
        var generators = new[] { subject, floor };
        var runs = new[] { new List<(double Full, double Incremental, double Megabytes)>(), new List<(double Full, double Incremental, double Megabytes)>() };
        var files = new int[2];
        for (int warmUp = 0; warmUp < WarmUpRounds; warmUp++)
            foreach (var generator in generators) RunOnce(generator, compilation, unrelated, options, warmUp);
        for (int round = 0; round < rounds; round++)
            foreach (int which in round % 2 == 0 ? new[] { 0, 1 } : [1, 0])
            {
                var (full, incremental, megabytes, fileCount) = RunOnce(generators[which], compilation, unrelated, options, round);
                runs[which].Add((full, incremental, megabytes));
                files[which] = fileCount;
            }
        static double Median(IEnumerable<double> values) { var sorted = values.Order().ToArray(); return sorted[sorted.Length / 2]; }
        Timings Of(int which) => new(Median(runs[which].Select(r => r.Full)), Median(runs[which].Select(r => r.Incremental)),
            Median(runs[which].Select(r => r.Megabytes)), files[which]);
        return (Of(0), Of(1));
    }

    private static (double Full, double Incremental, double Megabytes, int Files) RunOnce(IIncrementalGenerator generator, Compilation compilation,
        SyntaxTree unrelated, CSharpParseOptions options, int round)
    {
        var fresh = compilation.Clone();
        var edited = fresh.ReplaceSyntaxTree(unrelated,
            CSharpSyntaxTree.ParseText($"namespace Other; public static class Notes {{ public const int Version = {round + 2}; }}", options, path: "Notes.cs"));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var driver = CSharpGeneratorDriver.Create([generator.AsSourceGenerator()], parseOptions: options).RunGenerators(fresh);
        double full = clock.Elapsed.TotalMilliseconds;
        double megabytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / 1e6;
        int files = driver.GetRunResult().GeneratedTrees.Length;

        GC.Collect();
        GC.WaitForPendingFinalizers();
        clock.Restart();
        driver.RunGenerators(edited);
        return (full, clock.Elapsed.TotalMilliseconds, megabytes, files);
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
