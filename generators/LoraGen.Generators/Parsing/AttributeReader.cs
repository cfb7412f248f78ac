using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using LoraGen.Generators.Diagnostics;
using LoraGen.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.Parsing;

/// <summary>Reads a [LoraTarget] application into value types, reporting LORA001-003 on bad values.</summary>
internal static class AttributeReader
{
    /// <summary>Null when the attribute is incomplete (half-typed code): nothing is generated for it.</summary>
    public static TargetSettings? Settings(AttributeData attribute, string owner, DiagnosticSink sink)
    {
        if (attribute.ConstructorArguments.Length != 2
            || attribute.ConstructorArguments[0].Value is not int r
            || attribute.ConstructorArguments[1].Value is not double alpha)
            return null;

        double dropout = 0;
        bool rsLora = false, dora = false;
        int init = 0, bias = 0;
        foreach (var named in attribute.NamedArguments)
        {
            var value = named.Value.Kind == TypedConstantKind.Array ? null : named.Value.Value;
            switch (named.Key)
            {
                case "Dropout" when value is not null: dropout = Convert.ToDouble(value, CultureInfo.InvariantCulture); break;
                case "UseRsLora" when value is bool b: rsLora = b; break;
                case "UseDora" when value is bool b: dora = b; break;
                case "Init" when value is int i: init = i; break;
                case "Bias" when value is int i: bias = i; break;
            }
        }

        if (r < 1) sink.Report(DiagnosticDescriptors.RankTooSmall, ArgumentLocation(attribute, 0, "r"), owner, r);
        if (!(alpha > 0) || double.IsInfinity(alpha))
            sink.Report(DiagnosticDescriptors.AlphaNotPositive, ArgumentLocation(attribute, 1, "alpha"), owner, alpha.ToString(CultureInfo.InvariantCulture));
        if (!(dropout >= 0 && dropout < 1))
            sink.Report(DiagnosticDescriptors.DropoutOutOfRange, NamedArgumentLocation(attribute, "Dropout"), owner, dropout.ToString(CultureInfo.InvariantCulture));
        return new TargetSettings(r, alpha, dropout, rsLora, dora, init, bias);
    }

    /// <summary>The class-level choice: explicit Modules, else the Strategy (Original by default).</summary>
    public static (string[]? Modules, int Strategy) Selection(AttributeData attribute)
    {
        string[]? modules = null;
        int strategy = 0;
        foreach (var named in attribute.NamedArguments)
        {
            if (named.Key == "Modules" && named.Value.Kind == TypedConstantKind.Array && !named.Value.IsNull)
                modules = named.Value.Values.Select(v => v.Value as string).Where(s => !string.IsNullOrWhiteSpace(s)).Select(s => s!).ToArray();
            else if (named.Key == "Strategy" && named.Value.Value is int s)
                strategy = s;
        }
        return (modules, strategy);
    }

    public static Location? AttributeLocation(AttributeData attribute) =>
        attribute.ApplicationSyntaxReference?.GetSyntax().GetLocation();

    /// <summary>The location of a positional (or same-named) argument, else of the attribute.</summary>
    private static Location? ArgumentLocation(AttributeData attribute, int position, string name)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax { ArgumentList: { } list } syntax)
            return AttributeLocation(attribute);
        var positional = list.Arguments.Where(a => a.NameEquals is null).ToList();
        var byName = positional.FirstOrDefault(a => a.NameColon?.Name.Identifier.ValueText == name);
        var argument = byName ?? (position < positional.Count && positional[position].NameColon is null ? positional[position] : null);
        return argument?.Expression.GetLocation() ?? syntax.GetLocation();
    }

    private static Location? NamedArgumentLocation(AttributeData attribute, string name)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax { ArgumentList: { } list } syntax)
            return AttributeLocation(attribute);
        var argument = list.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name);
        return argument?.Expression.GetLocation() ?? syntax.GetLocation();
    }
}
