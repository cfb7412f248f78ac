using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using LoraGen.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace LoraGen.Generators.Diagnostics;

/// <summary>Reports the LORA diagnostics of every annotated class, from the generator's own parser.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LoraTargetAnalyzer : DiagnosticAnalyzer
{
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
    [
        DiagnosticDescriptors.RankTooSmall, DiagnosticDescriptors.AlphaNotPositive, DiagnosticDescriptors.DropoutOutOfRange,
        DiagnosticDescriptors.NotPartial, DiagnosticDescriptors.DeclaredAsLinear, DiagnosticDescriptors.ReadonlyTarget,
        DiagnosticDescriptors.NotALinear, DiagnosticDescriptors.UnmatchedModule, DiagnosticDescriptors.RankAboveLayerSize,
        DiagnosticDescriptors.TargetedTwice, DiagnosticDescriptors.IgnoredAttribute, DiagnosticDescriptors.AccessorClash,
        DiagnosticDescriptors.SettingDiffersWithinAdapter, DiagnosticDescriptors.FileLocalClass, DiagnosticDescriptors.UnreachedLayers,
    ];

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var known = KnownTypes.From(start.Compilation);
            if (known is null) return;
            // A layer below two annotated classes is checked twice; report each finding once.
            var reported = new ConcurrentDictionary<(string, Location?, string), bool>();
            start.RegisterSymbolAction(symbol =>
            {
                var type = (INamedTypeSymbol)symbol.Symbol;
                bool annotated = known.HasLoraTargets(type) || type.GetAttributes().Any(known.IsLoraModel);
                if (!annotated) return;
                var diagnostics = new List<Diagnostic>();
                var sink = DiagnosticSink.Collecting(diagnostics);
                if (AttributePlacement.Check(type, known, sink))
                    ModelParser.Parse(type, symbol.Compilation, sink, symbol.CancellationToken);
                foreach (var diagnostic in diagnostics)
                    if (reported.TryAdd((diagnostic.Id, diagnostic.Location, diagnostic.GetMessage()), true))
                        symbol.ReportDiagnostic(diagnostic);
            }, SymbolKind.NamedType);
        });
    }
}
