using System.Text.RegularExpressions;
using LoraGen.Injection;

namespace LoraGen.Adapters;

/// <summary>
/// Which modules a setting names, as peft's <c>target_modules</c> and <c>exclude_modules</c> take them: a list
/// of names (a name matches a module path equal to it or ending in "." + name), one regular expression that must
/// match the whole path, or "all-linear".
/// </summary>
public abstract record ModuleSelector
{
    private ModuleSelector() { }

    /// <summary>peft's list form: exact path or dotted suffix.</summary>
    public static ModuleSelector Names(params string[] names) => new NameList(names);

    /// <summary>peft's string form: <c>re.fullmatch(pattern, path)</c>.</summary>
    public static ModuleSelector Pattern(string regex) => new RegexPattern(regex);

    /// <summary>Every Linear layer but the output head (<c>lm_head</c>), as peft's "all-linear".</summary>
    public static ModuleSelector AllLinear { get; } = new AllLinearLayers();

    /// <summary>The output head (<c>lm_head</c>, at the root or deeper), which all-linear and QLoRA's quantization leave alone.</summary>
    internal static bool IsOutputHead(string path) => ModulePath.Matches(path, "lm_head");

    /// <summary>Whether the module at <paramref name="path"/> (a Linear when <paramref name="isLinear"/>) is named.</summary>
    public abstract bool Matches(string path, bool isLinear);

    /// <summary>How adapter_config.json writes it: a list, or a string.</summary>
    public abstract object ToJsonValue();

    public sealed record NameList(IReadOnlyList<string> Items) : ModuleSelector
    {
        public override bool Matches(string path, bool isLinear) => Items.Any(name => ModulePath.Matches(path, name));

        public override object ToJsonValue() => Items.ToArray();

        public bool Equals(NameList? other) => other is not null && Items.SequenceEqual(other.Items);

        public override int GetHashCode() => Items.Aggregate(0, (hash, item) => HashCode.Combine(hash, item));

        public override string ToString() => "[" + string.Join(", ", Items) + "]";
    }

    public sealed record RegexPattern(string Regex) : ModuleSelector
    {
        private readonly Regex _whole = new($"^(?:{Regex})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

        public override bool Matches(string path, bool isLinear) => _whole.IsMatch(path);

        public bool Equals(RegexPattern? other) => other is not null && other.Regex == Regex;

        public override int GetHashCode() => Regex.GetHashCode(StringComparison.Ordinal);

        public override object ToJsonValue() => Regex;

        public override string ToString() => $"'{Regex}'";
    }

    public sealed record AllLinearLayers : ModuleSelector
    {
        public override bool Matches(string path, bool isLinear) => isLinear && !IsOutputHead(path);

        public override object ToJsonValue() => "all-linear";

        public override string ToString() => "'all-linear'";
    }
}
