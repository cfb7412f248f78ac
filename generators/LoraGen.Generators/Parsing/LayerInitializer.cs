using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

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
    public static LayerInitializer Of(IFieldSymbol field, Compilation compilation, KnownTypes known, CancellationToken ct)
    {
        foreach (var reference in field.DeclaringSyntaxReferences)
            if (reference.GetSyntax(ct) is VariableDeclaratorSyntax { Initializer.Value: { } value })
                return Classify(value, compilation.GetSemanticModel(value.SyntaxTree), known);

        foreach (var constructor in field.ContainingType.InstanceConstructors)
            foreach (var reference in constructor.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax(ct) is not ConstructorDeclarationSyntax syntax) continue;
                var model = compilation.GetSemanticModel(syntax.SyntaxTree);
                foreach (var assignment in syntax.DescendantNodes().OfType<AssignmentExpressionSyntax>())
                {
                    ct.ThrowIfCancellationRequested();
                    if (AssignedName(assignment.Left) != field.Name) continue;   // cheap syntactic filter first
                    if (SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(assignment.Left, ct).Symbol, field))
                        return Classify(assignment.Right, model, known);
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

    private static LayerInitializer Classify(ExpressionSyntax value, SemanticModel model, KnownTypes known)
    {
        var type = model.GetTypeInfo(value).Type;
        if (known.IsLinear(type))
        {
            long? inFeatures = null, outFeatures = null;
            var operation = model.GetOperation(value);
            var arguments = operation switch
            {
                IInvocationOperation invocation => invocation.Arguments,
                IObjectCreationOperation creation => creation.Arguments,
                _ => default,
            };
            if (!arguments.IsDefault)
                foreach (var argument in arguments)
                {
                    if (argument.Parameter is null || !argument.Value.ConstantValue.HasValue) continue;
                    long? constant = argument.Value.ConstantValue.Value switch
                    {
                        int i => i,
                        long l => l,
                        short s => s,
                        _ => null,
                    };
                    if (argument.Parameter.Name == "inputSize") inFeatures = constant;
                    else if (argument.Parameter.Name == "outputSize") outFeatures = constant;
                }
            return new LayerInitializer(InitializerKind.Linear, inFeatures, outFeatures, null);
        }
        if (type is INamedTypeSymbol { TypeKind: TypeKind.Class, IsAbstract: false } named
            && !known.IsModuleOfTensor(named) && !SymbolEqualityComparer.Default.Equals(named, known.Module))
            return new LayerInitializer(InitializerKind.NotLinear, null, null, named.Name);
        return Unknown;
    }
}
