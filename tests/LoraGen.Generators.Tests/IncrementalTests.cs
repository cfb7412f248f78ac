using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace LoraGen.Generators.Tests;

/// <summary>The generator's cacheability, tested as NetEscapades.EnumGenerators and System.Text.Json test theirs.</summary>
public class IncrementalTests
{
    private static readonly string[] StepNames = typeof(TrackingNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral)
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToArray();

    private const string Unrelated = "namespace Other; public class Unrelated { public int Value; }";

    [Fact]
    public void An_edit_that_touches_no_annotated_code_leaves_every_step_cached_or_unchanged()
    {
        var compilation = GeneratorHarness.Compile(Sources.Llama, Sources.FieldTargets, Sources.RuntimeOnly, Unrelated);
        var driver = GeneratorHarness.Driver(trackSteps: true).RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();

        var unrelatedTree = compilation.SyntaxTrees.Last();
        var edited = compilation.ReplaceSyntaxTree(unrelatedTree,
            CSharpSyntaxTree.ParseText(Unrelated.Replace("public int Value;", "public int Value; public string Name = \"x\";"), GeneratorHarness.ParseOptions, unrelatedTree.FilePath));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.NotEmpty(StepNames);
        foreach (var name in StepNames)
        {
            var before = first.TrackedSteps[name];
            var after = second.TrackedSteps[name];
            Assert.Equal(before.Length, after.Length);
            for (int i = 0; i < before.Length; i++)
            {
                var oldValues = before[i].Outputs.Select(o => o.Value);
                var newValues = after[i].Outputs.Select(o => o.Value);
                Assert.Equal(oldValues, newValues);
                Assert.All(after[i].Outputs, output =>
                    Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {output.Reason}"));
            }
        }
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs),
            output => Assert.Equal(IncrementalStepRunReason.Cached, output.Reason));
    }

    [Fact]
    public void An_edit_to_annotated_code_regenerates_its_output()
    {
        var compilation = GeneratorHarness.Compile(Sources.Llama);
        var driver = GeneratorHarness.Driver(trackSteps: true).RunGenerators(compilation);
        var tree = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(tree,
            CSharpSyntaxTree.ParseText(Sources.Llama.Replace("r: 8, alpha: 16", "r: 4, alpha: 16"), GeneratorHarness.ParseOptions, tree.FilePath));
        var second = driver.RunGenerators(edited).GetRunResult().Results.Single();

        Assert.Contains(second.TrackedSteps[TrackingNames.Hosts].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        var root = second.GeneratedSources.Single(s => s.HintName.Contains("TinyLlama"));
        Assert.Contains("new global::LoraGen.Layers.LoraConfig(4, 16)", root.SourceText.ToString());
    }

    [Fact]
    public void Pipeline_models_hold_no_symbols_syntax_locations_or_compilations()
    {
        var compilation = GeneratorHarness.Compile(Sources.Llama, Sources.FieldTargets, Sources.NestedGeneric, Sources.RuntimeOnly);
        var result = GeneratorHarness.Driver(trackSteps: true).RunGenerators(compilation).GetRunResult().Results.Single();
        int visited = 0;
        foreach (var name in StepNames)
            foreach (var step in result.TrackedSteps[name])
                foreach (var (value, _) in step.Outputs)
                    visited += AssertObjectGraph(value, new HashSet<object>(ReferenceEqualityComparer.Instance));
        Assert.True(visited > 50, $"only {visited} objects walked");
    }

    /// <summary>Walks fields recursively; returns the number of objects seen.</summary>
    private static int AssertObjectGraph(object? node, HashSet<object> seen)
    {
        if (node is null || node is string || node.GetType().IsPrimitive || node.GetType().IsEnum || !seen.Add(node)) return 0;
        Assert.False(node is Compilation or ISymbol or SyntaxNode or SyntaxTree or Location or SemanticModel,
            $"pipeline model holds a {node.GetType().Name}");
        int count = 1;
        if (node is IEnumerable items)
            foreach (var item in items) count += AssertObjectGraph(item, seen);
        for (var type = node.GetType(); type is not null; type = type.BaseType)
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                count += AssertObjectGraph(field.GetValue(node), seen);
        return count;
    }
}
