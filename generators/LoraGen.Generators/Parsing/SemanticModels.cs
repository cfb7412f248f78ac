using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Parsing;

/// <summary>
/// One semantic model per syntax tree for the length of a parse: Roslyn keeps its binding caches in the
/// model, so asking the compilation for a new one per field would bind the same code again.
/// </summary>
internal sealed class SemanticModels(Compilation compilation)
{
    private readonly Dictionary<SyntaxTree, SemanticModel> _models = new();

    public SemanticModel For(SyntaxTree tree)
    {
        if (!_models.TryGetValue(tree, out var model)) _models[tree] = model = compilation.GetSemanticModel(tree);
        return model;
    }
}
