using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using LoraGen.Generators.Emitting;
using LoraGen.Generators.Model;
using LoraGen.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators;

/// <summary>
/// Turns [LoraTarget] on model classes and layer fields, and the [LoraModel] marker, into adapter code:
/// injection, the model-level adapter API, typed accessors and a compile-time plan. Diagnostics come from <see cref="Diagnostics.LoraTargetAnalyzer"/>,
/// which runs the same parser, so this pipeline's models stay free of locations and symbols.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class LoraTargetGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var classRoots = context.SyntaxProvider.ForAttributeWithMetadataName(
                KnownTypes.LoraTargetAttributeName,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => ctx.TargetSymbol is INamedTypeSymbol type
                    ? ModelParser.Parse(type, ctx.SemanticModel.Compilation, DiagnosticSink.Discarding(), ct)
                    : null)
            .WithTrackingName(TrackingNames.ClassRoots);

        var fieldRoots = context.SyntaxProvider.ForAttributeWithMetadataName(
                KnownTypes.LoraTargetAttributeName,
                static (node, _) => node is VariableDeclaratorSyntax,
                static (ctx, ct) => ModelParser.RootOfField(ctx.TargetSymbol, ctx.SemanticModel.Compilation) is { } type
                    ? ModelParser.Parse(type, ctx.SemanticModel.Compilation, DiagnosticSink.Discarding(), ct)
                    : null)
            .WithTrackingName(TrackingNames.FieldRoots);

        var modelRoots = context.SyntaxProvider.ForAttributeWithMetadataName(
                KnownTypes.LoraModelAttributeName,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => ModelParser.RootOfModelMarker(ctx.TargetSymbol, ctx.SemanticModel.Compilation) is { } type
                    ? ModelParser.Parse(type, ctx.SemanticModel.Compilation, DiagnosticSink.Discarding(), ct)
                    : null)
            .WithTrackingName(TrackingNames.ModelRoots);

        var hosts = classRoots.Collect()
            .Combine(fieldRoots.Collect())
            .Combine(modelRoots.Collect())
            .SelectMany(static (roots, _) => MergeHosts(roots.Left.Left.AddRange(roots.Left.Right).AddRange(roots.Right)))
            .WithTrackingName(TrackingNames.Hosts);

        context.RegisterSourceOutput(hosts, static (spc, host) => spc.AddSource(Emitter.HintName(host), Emitter.Emit(host)));
    }

    /// <summary>
    /// One spec per module class: a class below several roots gets the union of their typed accessors,
    /// and its entry points from its own annotation.
    /// </summary>
    private static ImmutableArray<HostSpec> MergeHosts(ImmutableArray<RootModel?> roots)
    {
        var merged = new Dictionary<string, HostSpec>();
        foreach (var host in roots.Where(r => r is not null).SelectMany(r => r!.Hosts))
        {
            if (!merged.TryGetValue(host.Type.MetadataName, out var existing))
            {
                merged[host.Type.MetadataName] = host;
                continue;
            }
            var fields = new EquatableArray<string>(existing.TargetedFields.Union(host.TargetedFields).OrderBy(f => f, System.StringComparer.Ordinal));
            merged[host.Type.MetadataName] = existing with { TargetedFields = fields, Entry = existing.Entry ?? host.Entry };
        }
        return merged.Values.OrderBy(h => h.Type.MetadataName, System.StringComparer.Ordinal).ToImmutableArray();
    }
}
