using System.Collections.Immutable;
using LoraGen.Generators;
using LoraGen.Generators.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LoraGen.Generators.Tests;

/// <summary>Compiles sources against .NET 10, TorchSharp and the LoraGen runtime, and runs the generator and analyzer.</summary>
internal static class GeneratorHarness
{
    public static readonly ImmutableArray<MetadataReference> References =
    [
        .. Basic.Reference.Assemblies.Net100.References.All,
        MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location),
        MetadataReference.CreateFromFile(typeof(LoraGen.Layers.LoraLinear).Assembly.Location),
    ];

    public static readonly CSharpParseOptions ParseOptions = CSharpParseOptions.Default.WithLanguageVersion(LanguageVersion.Preview);

    public static readonly CSharpCompilationOptions CompilationOptions =
        new(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);

    public static CSharpCompilation Compile(params string[] sources) =>
        CSharpCompilation.Create("Models",
            sources.Select((source, i) => CSharpSyntaxTree.ParseText(source, ParseOptions, path: $"Model{i}.cs")),
            References, CompilationOptions);

    public static GeneratorDriver Driver(bool trackSteps = false) =>
        CSharpGeneratorDriver.Create(
            [new LoraTargetGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator; returns the generated files and the compilation that includes them.</summary>
    public static (ImmutableArray<GeneratedSourceResult> Sources, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics) Generate(Compilation input)
    {
        var driver = Driver().RunGeneratorsAndUpdateCompilation(input, out var output, out var diagnostics);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return (result.GeneratedSources, output, diagnostics);
    }

    /// <summary>The analyzer's diagnostics; fails on any analyzer exception (AD0001).</summary>
    public static ImmutableArray<Diagnostic> Analyze(Compilation compilation)
    {
        var exceptions = new List<Exception>();
        var options = new CompilationWithAnalyzersOptions(new AnalyzerOptions([]), (e, _, _) => exceptions.Add(e),
            concurrentAnalysis: false, logAnalyzerExecutionTime: false);
        var diagnostics = compilation.WithAnalyzers([new LoraTargetAnalyzer()], options).GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult();
        Assert.Empty(exceptions);
        return diagnostics;
    }

    /// <summary>All generated files, each under a header naming it, as one text for a snapshot.</summary>
    public static string Joined(ImmutableArray<GeneratedSourceResult> sources) =>
        string.Join("\n", sources.OrderBy(s => s.HintName, StringComparer.Ordinal)
            .Select(s => $"//// {s.HintName}\n{s.SourceText}"));

    public static void AssertNoErrors(Compilation compilation)
    {
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.True(errors.Length == 0, "compilation errors:\n" + string.Join("\n", errors.Select(e => e.ToString())));
    }
}
