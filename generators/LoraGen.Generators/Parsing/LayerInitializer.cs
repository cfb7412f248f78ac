using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.Parsing;

/// <summary>What the source shows a layer field is initialised with.</summary>
internal enum InitializerKind { Unknown, Linear, NotLinear }

/// <param name="TypeName">For <see cref="InitializerKind.NotLinear"/>: the type it is initialised with.</param>
internal sealed record LayerInitializer(InitializerKind Kind, long? InFeatures, long? OutFeatures, string? TypeName)
{
    public static readonly LayerInitializer Unknown = new(InitializerKind.Unknown, null, null, null);

    /// <summary>
    /// Looks at the field's initializer, then at assignments to it in the constructors. A Linear's sizes
    /// are read where they are compile-time constants (literals, consts).
    /// </summary>
    public static LayerInitializer Of(IFieldSymbol field, VariableDeclaratorSyntax? declarator, SemanticModels models, KnownTypes known, CancellationToken ct)
    {
        if (declarator is { Initializer.Value: { } value })
            return Classify(value, () => models.For(value.SyntaxTree), known);

        foreach (var constructor in field.ContainingType.InstanceConstructors)
            foreach (var reference in constructor.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax(ct) is not ConstructorDeclarationSyntax syntax) continue;
                var model = models.For(syntax.SyntaxTree);
                foreach (var assignment in syntax.DescendantNodes().OfType<AssignmentExpressionSyntax>())
                {
                    ct.ThrowIfCancellationRequested();
                    if (AssignedName(assignment.Left) != field.Name) continue;   // cheap syntactic filter first
                    if (SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(assignment.Left, ct).Symbol, field))
                        return Classify(assignment.Right, () => model, known);
                }
            }
        return Unknown;
    }

    private static string? AssignedName(ExpressionSyntax left) => left switch
    {
        IdentifierNameSyntax identifier => identifier.Identifier.ValueText,
        MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } member => member.Name.Identifier.ValueText,
        _ => null,
    };

    /// <param name="model">Asked for only when the syntax does not settle it: creating a semantic model costs more than the rest.</param>
    private static LayerInitializer Classify(ExpressionSyntax value, System.Func<SemanticModel> model, KnownTypes known)
    {
        // Fast path: a call or constructor named Linear (Linear(..), nn.Linear(..), new Linear(..)) is taken
        // as TorchSharp's without binding it: binding initializers is most of the generator's cost, and a
        // look-alike that is not a Linear is still refused, with its path, by ApplyLora at run time.
        var (name, arguments) = value switch
        {
            InvocationExpressionSyntax invocation => (CalleeName(invocation.Expression), invocation.ArgumentList.Arguments),
            BaseObjectCreationExpressionSyntax creation => (creation is ObjectCreationExpressionSyntax { Type: var t } ? CalleeName(t) : null,
                creation.ArgumentList?.Arguments ?? default),
            _ => (null, default),
        };
        if (name == "Linear")
            return new LayerInitializer(InitializerKind.Linear, Size(arguments, 0, "inputSize", model), Size(arguments, 1, "outputSize", model), null);

        var type = model().GetTypeInfo(value).Type;
        if (known.IsLinear(type))
            return new LayerInitializer(InitializerKind.Linear, Size(arguments, 0, "inputSize", model), Size(arguments, 1, "outputSize", model), null);
        if (type is INamedTypeSymbol { TypeKind: TypeKind.Class, IsAbstract: false } named
            && !known.IsModuleOfTensor(named) && !SymbolEqualityComparer.Default.Equals(named, known.Module))
            return new LayerInitializer(InitializerKind.NotLinear, null, null, named.Name);
        return Unknown;
    }

    /// <summary>The rightmost simple name of a callee or type: <c>Linear</c> for <c>torch.nn.Linear</c>.</summary>
    private static string? CalleeName(ExpressionSyntax expression) => expression switch
    {
        SimpleNameSyntax simple => simple.Identifier.ValueText,
        MemberAccessExpressionSyntax member => member.Name.Identifier.ValueText,
        QualifiedNameSyntax qualified => qualified.Right.Identifier.ValueText,
        AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
        _ => null,
    };

    private static long? Size(SeparatedSyntaxList<ArgumentSyntax> arguments, int position, string name, System.Func<SemanticModel> model)
    {
        ArgumentSyntax? argument = null;
        foreach (var candidate in arguments)
            if (candidate.NameColon?.Name.Identifier.ValueText == name) argument = candidate;
        if (argument is null && position < arguments.Count && arguments[position].NameColon is null) argument = arguments[position];
        if (argument is null) return null;
        if (argument.Expression is LiteralExpressionSyntax literal)   // the common case, no binding needed
            return literal.Token.Value switch { int i => i, long l => l, _ => (long?)null };
        var constant = model().GetConstantValue(argument.Expression);
        return constant.HasValue ? constant.Value switch { int i => i, long l => l, short s => s, _ => (long?)null } : null;
    }
}
