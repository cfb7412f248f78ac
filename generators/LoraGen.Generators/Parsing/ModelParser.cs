using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using LoraGen.Generators.Diagnostics;
using LoraGen.Generators.Model;
using LoraGen.Injection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LoraGen.Generators.Parsing;

/// <summary>
/// Resolves the LoRA targets of one annotated class (a class with [LoraTarget], or one holding
/// [LoraTarget] fields) through its tree of module classes, into value models for the emitter and
/// diagnostics for the analyzer. Shared by both, so they can never disagree.
/// </summary>
internal static class ModelParser
{
    /// <summary>The module names of a named strategy; AllLinear is resolved from the model's layers instead.</summary>
    private static string[] StrategyModules(LoraStrategy strategy) => strategy switch
    {
        LoraStrategy.Original => ["q_proj", "v_proj"],
        LoraStrategy.Extended => ["q_proj", "k_proj", "v_proj", "o_proj"],
        _ => [],
    };

    private sealed record PlacedLayer(string Path, ModuleNode Owner, LayerField Layer);

    /// <summary>
    /// The class a [LoraTarget] field makes a root, or null when another application already covers it:
    /// the class has its own [LoraTarget], or this is not its first annotated field. So each class is
    /// parsed once per run, however many fields it annotates.
    /// </summary>
    public static INamedTypeSymbol? RootOfField(ISymbol field, Compilation compilation)
    {
        var type = field.ContainingType;
        var known = type is null ? null : KnownTypes.From(compilation);
        if (type is null || known is null || SyntaxShortcuts.Attributes(type).Any(known.IsLoraTarget)) return null;
        var first = type.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => SyntaxShortcuts.Attributes(f).Any(known.IsLoraTarget));
        return SymbolEqualityComparer.Default.Equals(first, field) ? type : null;
    }

    /// <summary>
    /// The class a [LoraModel] marker makes a root (run-time adapters only), or null when [LoraTarget] already
    /// makes it one.
    /// </summary>
    public static INamedTypeSymbol? RootOfModelMarker(ISymbol symbol, Compilation compilation) =>
        symbol is INamedTypeSymbol type && KnownTypes.From(compilation) is { } known && !known.HasLoraTargets(type) ? type : null;

    /// <summary>Null when there is nothing to generate (no TorchSharp, not a module class).</summary>
    public static RootModel? Parse(INamedTypeSymbol root, Compilation compilation, DiagnosticSink sink, CancellationToken ct)
    {
        var known = KnownTypes.From(compilation);
        if (known is null || !known.IsSourceModuleClass(root)) return null;

        var tree = new ModelTree(new SemanticModels(compilation), known, ct).Build(root);
        var placed = new List<PlacedLayer>();
        Place(tree, "", placed, new HashSet<ModuleNode>());

        var fieldSettings = new Dictionary<IFieldSymbol, TargetSettings?>(SymbolEqualityComparer.Default);
        foreach (var layer in placed.Select(p => p.Layer).Distinct())
            if (layer.Attribute is not null)
                fieldSettings[layer.Symbol] = AttributeReader.Settings(layer.Attribute, layer.Symbol.Name, sink);

        var rootAttribute = SyntaxShortcuts.Attributes(root).FirstOrDefault(known.IsLoraTarget);
        var classSettings = rootAttribute is null ? null : AttributeReader.Settings(rootAttribute, root.Name, sink);
        var classNames = classSettings is null ? [] : ClassTargetNames(rootAttribute!, root, placed, sink);

        var plan = new List<PlanEntrySpec>();
        var adapted = new List<(string Path, TargetSettings Settings, AttributeData? Attribute)>();
        var targeted = new Dictionary<ModuleNode, SortedSet<string>>();
        foreach (var item in placed)
        {
            ct.ThrowIfCancellationRequested();
            fieldSettings.TryGetValue(item.Layer.Symbol, out var own);
            bool hasOwn = item.Layer.Attribute is not null;
            bool byClass = classSettings is not null && classNames.Any(name => ModulePath.Matches(item.Path, name));
            if (!hasOwn && !byClass) continue;

            var settings = hasOwn ? own : classSettings;
            CheckTarget(item, settings, byClass && hasOwn && own is not null && classSettings is not null && own != classSettings ? classSettings : null, root, sink);
            if (settings is null || !settings.IsValid) continue;
            adapted.Add((item.Path, settings, item.Layer.Attribute ?? rootAttribute));
            foreach (var path in hasOwn ? [item.Path] : SelectedPaths(item.Path, classNames))
                plan.Add(new PlanEntrySpec(path, settings, item.Layer.Initializer.InFeatures, item.Layer.Initializer.OutFeatures));
            if (item.Layer.IsSwappable)
            {
                if (!targeted.TryGetValue(item.Owner, out var names)) targeted[item.Owner] = names = new SortedSet<string>(System.StringComparer.Ordinal);
                names.Add(item.Layer.Symbol.Name);
            }
        }

        CheckSharedSettings(adapted, sink);
        ReportUnreached(tree, new HashSet<ModuleNode>(), sink);

        var hosts = new List<HostSpec>();
        var seen = new HashSet<ModuleNode>();
        CollectHosts(tree, tree, classNames, classSettings, plan, fieldSettings, targeted, hosts, seen, sink);
        return new RootModel(MetadataName(root), new EquatableArray<HostSpec>(hosts));
    }

    /// <summary>Every layer field below <paramref name="node"/> with its module path; <c>{i}</c> for list indices.</summary>
    private static void Place(ModuleNode node, string prefix, List<PlacedLayer> placed, HashSet<ModuleNode> onPath)
    {
        if (!onPath.Add(node)) return;                   // a cycle of classes: paths through it are unbounded
        // In declaration order, as TorchSharp registers the fields and names the parameters.
        var members = node.Layers.Select(l => (l.Symbol, Layer: (LayerField?)l, Child: (ChildField?)null))
            .Concat(node.Children.Select(c => (c.Symbol, Layer: (LayerField?)null, Child: (ChildField?)c)))
            .OrderBy(m => m.Symbol.Locations.FirstOrDefault()?.SourceSpan.Start ?? 0);
        foreach (var (_, layer, child) in members)
        {
            if (layer is not null) placed.Add(new PlacedLayer(prefix + layer.RegisteredName, node, layer));
            else Place(child!.Node, prefix + child.RegisteredName + (child.IsList ? "." + ModulePath.IndexSegment + "." : "."), placed, onPath);
        }
        onPath.Remove(node);
    }

    /// <summary>Names (peft's matching) or, for AllLinear, exact path patterns; LORA008 for names that match nothing.</summary>
    private static string[] ClassTargetNames(AttributeData attribute, INamedTypeSymbol root, List<PlacedLayer> placed, DiagnosticSink sink)
    {
        var (modules, strategy) = AttributeReader.Selection(attribute);
        string Known() => placed.Count == 0 ? "none found; see LORA015 for layers held where LoraGen cannot reach them" : string.Join(", ", placed.Select(p => p.Path).Distinct());
        if (modules is not null)
        {
            foreach (var name in modules.Where(name => !placed.Any(p => ModulePath.Matches(p.Path, name))))
                sink.Report(DiagnosticDescriptors.UnmatchedModule, AttributeReader.AttributeLocation(attribute), root.Name, "module", name, Known());
            return modules;
        }

        string[] names = strategy == (int)LoraStrategy.AllLinear
            ? placed.Where(p => (p.Layer.DeclaredAsLinear || p.Layer.Initializer.Kind == InitializerKind.Linear) && p.Layer.RegisteredName != "lm_head")
                .Select(p => p.Path).Distinct().ToArray()
            : StrategyModules((LoraStrategy)strategy);
        if (!placed.Any(p => names.Any(name => ModulePath.Matches(p.Path, name))))
        {
            string strategyName = System.Enum.IsDefined(typeof(LoraStrategy), strategy) ? ((LoraStrategy)strategy).ToString() : strategy.ToString(CultureInfo.InvariantCulture);
            sink.Report(DiagnosticDescriptors.UnmatchedModule, AttributeReader.AttributeLocation(attribute), root.Name, "strategy", strategyName, Known());
        }
        return names;
    }

    /// <summary>LORA005/006/007/009/010 for one targeted layer.</summary>
    private static void CheckTarget(PlacedLayer item, TargetSettings? settings, TargetSettings? conflictingClassSettings, INamedTypeSymbol root, DiagnosticSink sink)
    {
        var field = item.Layer.Symbol;
        var location = field.Locations.FirstOrDefault();
        if (item.Layer.DeclaredAsLinear)
            sink.Report(DiagnosticDescriptors.DeclaredAsLinear, DeclaredTypeLocation(field) ?? location, item.Path);
        if (item.Layer.IsReadonly)
            sink.Report(DiagnosticDescriptors.ReadonlyTarget, location, item.Path);
        if (item.Layer.Initializer.Kind == InitializerKind.NotLinear)
            sink.Report(DiagnosticDescriptors.NotALinear, location, item.Path, item.Layer.Initializer.TypeName);
        if (settings is { } s && item.Layer.Initializer is { InFeatures: long inFeatures, OutFeatures: long outFeatures }
            && s.R > System.Math.Min(inFeatures, outFeatures))
            sink.Report(DiagnosticDescriptors.RankAboveLayerSize, location, item.Path, s.R, System.Math.Min(inFeatures, outFeatures), inFeatures, outFeatures);
        if (conflictingClassSettings is not null && settings is not null)
            sink.Report(DiagnosticDescriptors.TargetedTwice, AttributeReader.AttributeLocation(item.Layer.Attribute!) ?? location,
                item.Path, Describe(settings), root.Name, Describe(conflictingClassSettings));
    }

    private static void CollectHosts(
        ModuleNode node, ModuleNode root, string[] classNames, TargetSettings? classSettings, List<PlanEntrySpec> plan,
        Dictionary<IFieldSymbol, TargetSettings?> fieldSettings, Dictionary<ModuleNode, SortedSet<string>> targeted,
        List<HostSpec> hosts, HashSet<ModuleNode> seen, DiagnosticSink sink)
    {
        if (!seen.Add(node) || !(node.HasLayersBelow || node == root)) return;
        if (node.Type.IsFileLocal)
        {
            sink.Report(DiagnosticDescriptors.FileLocalClass, node.Type.Locations.FirstOrDefault(), node.Type.Name);
            return;
        }
        if (!node.IsPartial)
        {
            var nonPartial = node.FirstNonPartial!;
            sink.Report(DiagnosticDescriptors.NotPartial, nonPartial.Locations.FirstOrDefault(), nonPartial.Name, "the layers of " + node.Type.Name);
            return;
        }

        var slots = node.Layers.Where(l => l.IsSwappable).Select(l =>
        {
            fieldSettings.TryGetValue(l.Symbol, out var own);
            return new SlotFieldSpec(l.Symbol.Name, l.RegisteredName, own is { IsValid: true } ? own : null);
        });
        var children = node.Children.Where(c => c.Node.HasLayersBelow && c.Node.IsPartial)
            .Select(c => new ChildFieldSpec(c.Symbol.Name, c.RegisteredName, c.IsList));
        var entry = node == root
            ? new EntrySpec(new EquatableArray<string>(classNames), classSettings is { IsValid: true } ? classSettings : null, new EquatableArray<PlanEntrySpec>(plan))
            : null;
        var accessors = AccessibleTargets(node, targeted.TryGetValue(node, out var names) ? names : Enumerable.Empty<string>(), sink);
        hosts.Add(new HostSpec(TypeSpecOf(node.Type), new EquatableArray<SlotFieldSpec>(slots), new EquatableArray<ChildFieldSpec>(children),
            new EquatableArray<string>(accessors), entry));

        foreach (var child in node.Children)
            CollectHosts(child.Node, root, classNames, classSettings, plan, fieldSettings, targeted, hosts, seen, sink);
    }

    /// <summary>
    /// The targeted fields that get a typed accessor: LORA012 for one whose accessor name another member already
    /// has (a user member, or another field's accessor: <c>q_proj</c> and <c>qProj</c> both give <c>QProjLora</c>).
    /// </summary>
    private static IEnumerable<string> AccessibleTargets(ModuleNode node, IEnumerable<string> targeted, DiagnosticSink sink)
    {
        var chosen = new List<string>();
        foreach (var group in targeted.GroupBy(Emitting.Emitter.AccessorName))
        {
            var fields = group.ToArray();
            var userMember = !node.Type.MemberNames.Contains(group.Key) ? null : node.Type.GetMembers(group.Key).FirstOrDefault(m => m.Locations.Any(l => l.IsInSource && !l.SourceTree!.FilePath.EndsWith(".LoraGen.g.cs", System.StringComparison.Ordinal)));
            if (userMember is null && fields.Length == 1)
            {
                chosen.Add(fields[0]);
                continue;
            }
            foreach (var field in fields)
            {
                string other = userMember is not null ? $"the member '{userMember.Name}' of {node.Type.Name}" : $"the accessor of '{fields.First(f => f != field)}'";
                var location = node.Type.GetMembers(field).FirstOrDefault()?.Locations.FirstOrDefault();
                sink.Report(DiagnosticDescriptors.AccessorClash, location, group.Key, field, other);
            }
        }
        return chosen;
    }

    /// <summary>
    /// The paths class-level names select within a pattern: the pattern itself (<c>layers.{i}.fc</c>) when a name
    /// leaves an index free, else one path per index the names pin (<c>Modules = ["layers.0.fc"]</c> adapts layer 0 only).
    /// </summary>
    private static IEnumerable<string> SelectedPaths(string pattern, string[] names)
    {
        var pinned = new SortedSet<string>(System.StringComparer.Ordinal);
        foreach (var name in names.Where(n => ModulePath.Matches(pattern, n)))
        {
            var patternSegments = pattern.Split('.');
            var nameSegments = name.Split('.');
            int offset = patternSegments.Length - nameSegments.Length;
            for (int i = 0; i < patternSegments.Length; i++)
            {
                if (patternSegments[i] != ModulePath.IndexSegment) continue;
                if (i < offset || nameSegments[i - offset] == ModulePath.IndexSegment) return [pattern];   // every instance
                patternSegments[i] = nameSegments[i - offset];
            }
            pinned.Add(string.Join(".", patternSegments));
        }
        return pinned;
    }

    /// <summary>LORA015 for every container of layers the walk could not enter, anywhere in the tree.</summary>
    private static void ReportUnreached(ModuleNode node, HashSet<ModuleNode> seen, DiagnosticSink sink)
    {
        if (!seen.Add(node)) return;
        foreach (var (where, what, why) in node.Unreached)
            sink.Report(DiagnosticDescriptors.UnreachedLayers, where.Locations.FirstOrDefault(), where.Name, what, why);
        foreach (var child in node.Children) ReportUnreached(child.Node, seen, sink);
    }

    /// <summary>LORA013: peft stores dropout, rsLoRA, DoRA, init and bias once per adapter; a layer whose settings differ from the first adapted layer's is named.</summary>
    private static void CheckSharedSettings(List<(string Path, TargetSettings Settings, AttributeData? Attribute)> adapted, DiagnosticSink sink)
    {
        if (adapted.Count < 2) return;
        var (firstPath, f, _) = adapted[0];
        var reported = new HashSet<AttributeData>();
        foreach (var (path, s, attribute) in adapted.Skip(1))
        {
            var difference =
                s.Dropout != f.Dropout ? ("Dropout", Invariant(s.Dropout), Invariant(f.Dropout))
                : s.UseRsLora != f.UseRsLora ? ("UseRsLora", s.UseRsLora.ToString(), f.UseRsLora.ToString())
                : s.UseDora != f.UseDora ? ("UseDora", s.UseDora.ToString(), f.UseDora.ToString())
                : s.Init != f.Init ? ("Init", Emitting.Emitter.EnumName<LoraGen.Layers.LoraInit>(s.Init), Emitting.Emitter.EnumName<LoraGen.Layers.LoraInit>(f.Init))
                : s.Bias != f.Bias ? ("Bias", Emitting.Emitter.EnumName<LoraGen.Layers.LoraBias>(s.Bias), Emitting.Emitter.EnumName<LoraGen.Layers.LoraBias>(f.Bias))
                : ((string, string, string)?)null;
            if (difference is not { } d || attribute is null || !reported.Add(attribute)) continue;
            sink.Report(DiagnosticDescriptors.SettingDiffersWithinAdapter, AttributeReader.AttributeLocation(attribute), path, d.Item1, d.Item2, firstPath, d.Item3);
        }
    }

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static TypeSpec TypeSpecOf(INamedTypeSymbol type)
    {
        var chain = new List<INamedTypeSymbol>();
        for (var current = type; current is not null; current = current.ContainingType) chain.Insert(0, current);
        var declarations = chain.Select(t =>
        {
            string kind = t.IsRecord ? (t.TypeKind == TypeKind.Struct ? "record struct" : "record") : t.TypeKind == TypeKind.Struct ? "struct" : t.TypeKind == TypeKind.Interface ? "interface" : "class";
            string parameters = t.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", t.TypeParameters.Select(p => p.Name)) + ">";
            return $"partial {kind} {t.Name}{parameters}";
        });
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        return new TypeSpec(ns, new EquatableArray<string>(declarations), MetadataName(type));
    }

    private static string MetadataName(INamedTypeSymbol type)
    {
        var name = type.MetadataName;
        for (var current = type.ContainingType; current is not null; current = current.ContainingType) name = current.MetadataName + "+" + name;
        return type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() + "." + name : name;
    }

    private static Location? DeclaredTypeLocation(IFieldSymbol field) =>
        field.DeclaringSyntaxReferences.Select(r => r.GetSyntax()).OfType<VariableDeclaratorSyntax>()
            .Select(d => (d.Parent as VariableDeclarationSyntax)?.Type.GetLocation()).FirstOrDefault(l => l is not null);

    private static string Describe(TargetSettings s) =>
        System.FormattableString.Invariant($"r={s.R}, alpha={s.Alpha}, Dropout={s.Dropout}, UseRsLora={s.UseRsLora}, UseDora={s.UseDora}, Init={Emitting.Emitter.EnumName<LoraGen.Layers.LoraInit>(s.Init)}, Bias={Emitting.Emitter.EnumName<LoraGen.Layers.LoraBias>(s.Bias)}");
}
