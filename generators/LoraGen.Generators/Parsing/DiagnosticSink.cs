using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Parsing;

/// <summary>
/// Where the parser puts diagnostics. The analyzer collects them; the generator passes a sink that
/// drops them, so its cached pipeline models never hold a Location.
/// </summary>
internal sealed class DiagnosticSink
{
    private readonly List<Diagnostic>? _diagnostics;

    private DiagnosticSink(List<Diagnostic>? diagnostics) => _diagnostics = diagnostics;

    public static DiagnosticSink Discarding() => new(null);

    public static DiagnosticSink Collecting(List<Diagnostic> diagnostics) => new(diagnostics);

    public void Report(DiagnosticDescriptor descriptor, Location? location, params object?[] arguments) =>
        _diagnostics?.Add(Diagnostic.Create(descriptor, location, arguments));
}
