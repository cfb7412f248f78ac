using System.Text.RegularExpressions;
using LoraGen.Injection;
using LoraGen.Layers;

namespace LoraGen.Adapters;

/// <summary>
/// A run-time adapter configuration with peft's <c>LoraConfig</c> fields and defaults (r = 8, lora_alpha = 8,
/// no dropout, bias "none", Kaiming-uniform A and zero B), as read from <c>adapter_config.json</c> or written in
/// code. It says which layers of a model get an adapter and with which settings; the compile-time
/// <see cref="LoraTargetAttribute"/> remains the way a model class declares its own.
/// </summary>
public sealed record PeftLoraConfig
{
    /// <summary>peft's <c>r</c>: rank of every adapter not named in <see cref="RankPattern"/>.</summary>
    public int R { get; init; } = 8;

    /// <summary>peft's <c>lora_alpha</c>.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>peft's <c>target_modules</c>: names, a regular expression, or all-linear. Required.</summary>
    public ModuleSelector? TargetModules { get; init; }

    /// <summary>peft's <c>exclude_modules</c>: modules never adapted, even when <see cref="TargetModules"/> names them.</summary>
    public ModuleSelector? ExcludeModules { get; init; }

    /// <summary>peft's <c>rank_pattern</c>: key (a regex matched as <c>(.*\.)?key$</c>) → rank; the first matching key wins.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>peft's <c>alpha_pattern</c>: key → alpha, matched as <see cref="RankPattern"/>.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>peft's <c>layers_to_transform</c>: only layers with these indices are adapted (list targets only).</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }

    /// <summary>peft's <c>layers_pattern</c>: the name of the layer list whose index <see cref="LayersToTransform"/> reads (e.g. "layers").</summary>
    public IReadOnlyList<string>? LayersPattern { get; init; }

    /// <summary>peft's <c>lora_dropout</c>.</summary>
    public double LoraDropout { get; init; }

    /// <summary>peft's <c>bias</c>.</summary>
    public LoraBias Bias { get; init; } = LoraBias.None;

    /// <summary>peft's <c>use_rslora</c>: scaling alpha/√r.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>peft's <c>use_dora</c>.</summary>
    public bool UseDora { get; init; }

    /// <summary>peft's <c>init_lora_weights</c>: true (Kaiming-uniform A, zero B), "gaussian", or false (A and B keep nn.Linear's default init).</summary>
    public LoraInit InitLoraWeights { get; init; } = LoraInit.KaimingUniform;

    /// <summary>
    /// peft's <c>fan_in_fan_out</c>: the base layer stores its weight as (in, out) (GPT-2's Conv1D). lora_A is
    /// (r, in) and lora_B (out, r) either way, so such adapters load into LoraGen's Linear-based models as they are.
    /// </summary>
    public bool FanInFanOut { get; init; }

    /// <summary>peft's <c>modules_to_save</c>: modules trained in full beside the adapters (e.g. <c>lm_head</c>, a classifier <c>score</c>).</summary>
    public IReadOnlyList<string>? ModulesToSave { get; init; }

    /// <summary>peft's <c>task_type</c>, kept for the file.</summary>
    public string? TaskType { get; init; } = "CAUSAL_LM";

    /// <summary>peft's <c>base_model_name_or_path</c>, kept for the file.</summary>
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>peft's <c>revision</c>, kept for the file.</summary>
    public string? Revision { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field (peft's name) that cannot work.</summary>
    public void Validate()
    {
        if (TargetModules is null) throw new ArgumentException("target_modules is required (names, a regular expression or \"all-linear\").", nameof(TargetModules));
        if (LayersToTransform is not null && TargetModules is not ModuleSelector.NameList)
            throw new ArgumentException("layers_to_transform works only with a list of target_modules, as in peft.", nameof(LayersToTransform));
        if (LayersPattern is { Count: > 0 } && LayersToTransform is null)
            throw new ArgumentException("layers_pattern is set without layers_to_transform, which peft refuses.", nameof(LayersPattern));
        foreach (var (key, rank) in RankPattern)
            if (rank < 1) throw new ArgumentException($"rank_pattern['{key}'] must be at least 1; got {rank}.", nameof(RankPattern));
        foreach (var key in RankPattern.Keys.Concat(AlphaPattern.Keys))
        {
            try
            {
                _ = new Regex(PatternFor(key), RegexOptions.CultureInvariant);
            }
            catch (ArgumentException)
            {
                throw new ArgumentException($"pattern key '{key}' (rank_pattern or alpha_pattern) is not a valid regular expression.", nameof(RankPattern));
            }
        }
        foreach (var (key, alpha) in AlphaPattern)
            if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentException($"alpha_pattern['{key}'] must be a positive finite number; got {alpha}.", nameof(AlphaPattern));
        LayerConfig(R, LoraAlpha).Validate("adapter config");
    }

    /// <summary>
    /// Whether the module at <paramref name="path"/> gets an adapter, as peft's <c>check_target_module_exists</c>
    /// decides: excluded modules and modules_to_save never; a list entry equal to the whole path always; a suffix
    /// match only in the layers of <see cref="LayersToTransform"/>.
    /// </summary>
    public bool Targets(string path, bool isLinear)
    {
        if (ExcludeModules is not null && ExcludeModules.Matches(path, isLinear)) return false;
        if (ModulesToSave is not null && ModulesToSave.Any(name => ModulePath.Matches(path, name))) return false;
        if (TargetModules is null || !TargetModules.Matches(path, isLinear)) return false;
        if (LayersToTransform is null) return true;
        if (TargetModules is ModuleSelector.NameList names && names.Items.Contains(path)) return true;
        return LayerIndex(path) is int index && LayersToTransform.Contains(index);
    }

    /// <summary>The settings of the adapter at <paramref name="path"/>: rank and alpha from the patterns, the rest shared.</summary>
    public LoraConfig LayerConfigFor(string path) =>
        LayerConfig(PatternValue(RankPattern, path) ?? R, PatternValue(AlphaPattern, path) ?? LoraAlpha);

    private LoraConfig LayerConfig(int r, double alpha) => new(r, alpha)
    {
        Dropout = LoraDropout,
        UseRsLora = UseRsLora,
        UseDora = UseDora,
        Init = InitLoraWeights,
        Bias = Bias,
    };

    /// <summary>peft's rule: a key matches when <c>(.*\.)?key$</c> matches the path from its start; the first such key wins.</summary>
    internal static T? PatternValue<T>(IReadOnlyDictionary<string, T> patterns, string path) where T : struct
    {
        foreach (var (key, value) in patterns)
            if (Regex.IsMatch(path, PatternFor(key), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
                return value;
        return null;
    }

    /// <summary>The full-path regular expression of a rank_pattern / alpha_pattern key.</summary>
    private static string PatternFor(string key) => $"^(.*\\.)?(?:{key})$";

    /// <summary>
    /// The layer index peft reads for layers_to_transform: the first number segment that follows a segment with
    /// another before it (<c>.*?\.[^.]*\.(\d+)\.</c>), or that follows a layers_pattern name (<c>.*?\.{pattern}\.(\d+)\.</c>).
    /// </summary>
    private int? LayerIndex(string path)
    {
        var patterns = LayersPattern is { Count: > 0 } ? LayersPattern.Select(p => $@"^.*?\.{p}\.(\d+)\.") : [@"^.*?\.[^.]*\.(\d+)\."];
        foreach (var pattern in patterns)
            if (Regex.Match(path, pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)) is { Success: true } match
                && int.TryParse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out int index))
                return index;
        return null;
    }
}
