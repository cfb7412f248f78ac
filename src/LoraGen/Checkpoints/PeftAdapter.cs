using System.Text.RegularExpressions;
using LoraGen.Adapters;
using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// Adapters in peft's format, both ways: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> with peft's
/// keys (<c>base_model.model.{path}.lora_A.weight</c>, <c>.lora_B.weight</c>, <c>.lora_magnitude_vector</c> for DoRA,
/// trained biases as <c>{path}.base_layer.bias</c> / <c>{path}.bias</c>, modules_to_save as <c>{path}.{parameter}</c>;
/// the adapter name is not in the key). <see cref="Load(nn.Module, string, string, bool)"/> is peft's <c>PeftModel.from_pretrained</c> /
/// <c>load_adapter</c>: the file's configuration decides which layers get the adapter and with which settings.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    /// <summary>What peft puts before a module path in an adapter's tensor names.</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>
    /// Writes adapter <paramref name="adapterName"/> of <paramref name="model"/> as peft's <c>save_pretrained</c>
    /// does, into <paramref name="directory"/> itself (whatever the adapter's name). The folder is replaced as a
    /// whole: a reader, or a save that is killed, never leaves the config of one save beside the weights of another.
    /// </summary>
    public static void Save(nn.Module model, string directory, string adapterName = "default", string? baseModel = null)
    {
        var layers = ModelAdapters.Layers(model).Where(l => l.AdapterNames.Contains(adapterName)).ToArray();
        if (layers.Length == 0) throw CheckpointException.For(directory, $"{model.GetName()} has no adapter '{adapterName}' to save");
        var config = ModelAdapters.ConfigOf(model, adapterName) ?? Describe(model, layers, adapterName, directory);
        if (baseModel is not null) config = config with { BaseModelNameOrPath = baseModel };

        var tensors = new List<(string, Tensor)>();
        foreach (var layer in layers)
        {
            var adapter = layer.Adapter(adapterName);
            string key = KeyPrefix + layer.GetName();
            tensors.Add((key + ".lora_A.weight", adapter.A.weight));
            tensors.Add((key + ".lora_B.weight", adapter.B.weight));
            if (adapter.Magnitude is { } magnitude) tensors.Add((key + ".lora_magnitude_vector", magnitude.weight));
        }
        // A module saved in full carries its own bias (this adapter's copy), so "all" leaves it to that copy.
        var savedInFull = ModelAdapters.ModulesToSaveTensors(model, adapterName).ToArray();
        foreach (var (name, parameter) in BiasesToSave(model, layers, config.Bias).Where(b => savedInFull.All(s => s.Name != b.Name)))
            tensors.Add((KeyPrefix + name, parameter));
        foreach (var (name, values) in savedInFull) tensors.Add((KeyPrefix + name, values));

        var text = AdapterConfigFile.Write(config);
        AtomicFolder.Write(directory, folder =>
        {
            SafetensorsWriter.Write(Path.Combine(folder, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            AtomicFile.Write(Path.Combine(folder, ConfigFile), stream => stream.Write(text));
        });
    }

    /// <summary>
    /// Loads the peft adapter in <paramref name="directory"/> into <paramref name="model"/> as adapter
    /// <paramref name="adapterName"/>: creates exactly the adapters its config describes (targets, ranks and alphas
    /// with their patterns, layers_to_transform, DoRA, rsLoRA, bias, modules_to_save), then fills them from the
    /// weights. Every key, shape and dtype is checked before the model changes, so a file that does not fit
    /// leaves it as it was. The first adapter of a model becomes active; a later one waits (peft's load_adapter).
    /// </summary>
    /// <param name="allowNonFinite">Accept NaN or Inf in the tensors (for debugging a broken training run).</param>
    public static IReadOnlyList<LoraLinear> Load(nn.Module model, string directory, string adapterName = "default", bool allowNonFinite = false)
    {
        using var content = Read(directory, allowNonFinite);
        return Load(model, content, adapterName);
    }

    /// <summary>
    /// Reads a peft adapter folder into host memory, checking what needs no model: the config, the safetensors file,
    /// floating-point dtypes and (unless allowed) finite values. A server keeps it to load the adapter again later.
    /// </summary>
    public static PeftAdapterContent Read(string directory, bool allowNonFinite = false)
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        var config = AdapterConfigFile.Read(configPath);
        using var file = SafetensorsFile.Open(weightsPath);
        foreach (var entry in file.Entries) CheckDtype(weightsPath, entry);
        // Read outside any dispose scope: the content outlives the caller's scopes.
        var values = new Dictionary<string, Tensor>();
        try
        {
            foreach (var entry in file.Entries) values[entry.Name] = file.Read(entry.Name);
            if (!allowNonFinite)
                foreach (var (name, tensor) in values)
                {
                    using var finite = tensor.isfinite().all();
                    if (!finite.item<bool>())
                        throw CheckpointException.For(weightsPath, name, "holds NaN or Inf (pass allowNonFinite: true to load it anyway)");
                }
            return new PeftAdapterContent(directory, config, values);
        }
        catch
        {
            foreach (var tensor in values.Values) tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads an adapter read earlier (<see cref="Read"/>) into <paramref name="model"/>, as <see cref="Load(nn.Module, string, string, bool)"/>
    /// does: every key and shape checked first, so content that does not fit leaves the model as it was. The content
    /// is copied, not taken: it can load again.
    /// </summary>
    public static IReadOnlyList<LoraLinear> Load(nn.Module model, PeftAdapterContent content, string adapterName = "default")
    {
        string configPath = Path.Combine(content.Folder, ConfigFile), weightsPath = Path.Combine(content.Folder, WeightsFile);
        ModelAdapters.AdapterPlan plan;
        try
        {
            plan = ModelAdapters.Plan(model, content.Config, adapterName);
        }
        catch (ArgumentException e)
        {
            throw CheckpointException.For(configPath, e);
        }

        var expected = ExpectedTensors(model, plan);
        var present = content.Tensors.Keys.ToHashSet();
        var missing = expected.Where(e => e.Value.Required && !present.Contains(e.Key)).Select(e => e.Key).ToArray();
        var unexpected = present.Where(k => !expected.ContainsKey(k)).ToArray();
        if (missing.Length > 0 || unexpected.Length > 0)
            throw CheckpointException.For(weightsPath, KeyMismatch(missing, unexpected));
        foreach (var (name, tensor) in content.Tensors)
        {
            var want = expected[name].Shape;
            if (!tensor.shape.SequenceEqual(want))
                throw CheckpointException.For(weightsPath, name, $"has shape [{string.Join(", ", tensor.shape)}]; the model needs [{string.Join(", ", want)}] for r={RankOf(plan, name)}");
        }
        return Fill(model, plan, content.Config, adapterName, expected, content.Tensors);
    }

    /// <summary>Refuses an adapter tensor that is not floating point, naming the file and the tensor.</summary>
    public static void CheckDtype(string file, SafetensorsEntry entry)
    {
        if (entry.Type is not (ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float32 or ScalarType.Float64))
            throw CheckpointException.For(file, entry.Name, $"has dtype {entry.DType}; adapter tensors must be floating point (F16, BF16, F32, F64)");
    }

    /// <summary>Creates the planned adapter and copies the checked tensors into it.</summary>
    private static IReadOnlyList<LoraLinear> Fill(nn.Module model, ModelAdapters.AdapterPlan plan, PeftLoraConfig config, string adapterName,
        Dictionary<string, (long[] Shape, bool Required, TensorKind Kind)> expected, IReadOnlyDictionary<string, Tensor> values)
    {
        var layers = ModelAdapters.Apply(model, plan);
        foreach (var layer in layers)
        {
            string key = KeyPrefix + layer.GetName();
            layer.SetAdapterWeights(adapterName, values[key + ".lora_A.weight"], values[key + ".lora_B.weight"],
                config.UseDora ? values[key + ".lora_magnitude_vector"] : null);
        }
        var parameters = model.named_parameters().ToDictionary(p => KeyPrefix + p.name, p => p.parameter);
        using (no_grad())
            foreach (var (key, (_, _, kind)) in expected)
            {
                if (!values.TryGetValue(key, out var tensor)) continue;
                if (kind == TensorKind.Bias) parameters[key].copy_(tensor);
                else if (kind == TensorKind.ModuleToSave) ModelAdapters.SetModulesToSaveTensor(model, adapterName, key[KeyPrefix.Length..], tensor);
            }
        return layers;
    }

    private enum TensorKind { Lora, Bias, ModuleToSave }

    /// <summary>Every key the adapter may hold, with the shape it needs and whether it must be there (trained biases may be absent: released peft drops lora_only biases).</summary>
    private static Dictionary<string, (long[] Shape, bool Required, TensorKind Kind)> ExpectedTensors(nn.Module model, ModelAdapters.AdapterPlan plan)
    {
        var expected = new Dictionary<string, (long[], bool, TensorKind)>();
        foreach (var (slot, settings) in plan.Targets)
        {
            var (inFeatures, outFeatures) = LinearLayers.Size(slot.Current!);
            string key = KeyPrefix + slot.Path;
            expected[key + ".lora_A.weight"] = ([settings.R, inFeatures], true, TensorKind.Lora);
            expected[key + ".lora_B.weight"] = ([outFeatures, settings.R], true, TensorKind.Lora);
            if (settings.UseDora) expected[key + ".lora_magnitude_vector"] = ([outFeatures], true, TensorKind.Lora);
        }
        var targets = plan.Targets.Select(t => t.Slot.Path).ToHashSet();
        var savedInFull = ModulesToSave.Layout(plan.ModulesToSave).Select(p => $"{p.Path}.{p.Name}").ToHashSet();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!LinearLayers.IsBias(name) || savedInFull.Contains(name)) continue;
            string owner = name.Length > 5 ? name[..^5] : "";
            bool becomesAdapted = targets.Contains(owner);                      // its bias moves to {owner}.base_layer.bias
            string key = KeyPrefix + (becomesAdapted ? owner + ".base_layer.bias" : name);
            bool adaptedLayer = becomesAdapted || (owner.EndsWith(".base_layer", StringComparison.Ordinal) && targets.Contains(owner[..^11]));
            if (plan.Config?.Bias == LoraBias.All || (plan.Config?.Bias == LoraBias.LoraOnly && adaptedLayer))
                expected[key] = (parameter.shape, false, TensorKind.Bias);
        }
        foreach (var (path, parameterName, shape, _) in ModulesToSave.Layout(plan.ModulesToSave))
            expected[$"{KeyPrefix}{path}.{parameterName}"] = (shape, true, TensorKind.ModuleToSave);
        return expected;
    }

    /// <summary>The biases a save writes: every bias for "all", the adapted layers' own for "lora_only" (as current peft does).</summary>
    private static IEnumerable<(string Name, Tensor Values)> BiasesToSave(nn.Module model, IReadOnlyList<LoraLinear> layers, LoraBias bias) => bias switch
    {
        LoraBias.All => model.named_parameters().Where(p => LinearLayers.IsBias(p.name)).Select(p => (p.name, (Tensor)p.parameter)),
        LoraBias.LoraOnly => layers.Where(l => l.BaseBias is not null).Select(l => (l.GetName() + ".base_layer.bias", (Tensor)l.BaseBias!)),
        _ => [],
    };

    /// <summary>
    /// The configuration of an adapter declared at compile time, as peft would write it: the settings every layer
    /// shares, the most common rank and alpha with the others in rank_pattern / alpha_pattern, and the layer
    /// names as target_modules (the last segments where they select exactly these layers, else full paths).
    /// </summary>
    private static PeftLoraConfig Describe(nn.Module model, IReadOnlyList<LoraLinear> layers, string adapterName, string directory)
    {
        var adapters = layers.Select(l => (Layer: l, Config: l.Adapter(adapterName).Config)).ToArray();
        var first = adapters[0].Config;
        foreach (var (layer, c) in adapters)
            if (c.UseDora != first.UseDora || c.UseRsLora != first.UseRsLora || c.Dropout != first.Dropout || c.Bias != first.Bias || c.Init != first.Init)
                throw CheckpointException.For(directory, $"layer '{layer.GetName()}' differs from '{adapters[0].Layer.GetName()}' in a setting peft stores once per adapter (dropout, rsLoRA, DoRA, init, bias)");
        var (r, alpha) = adapters.GroupBy(a => (a.Config.R, a.Config.Alpha)).OrderByDescending(g => g.Count()).First().Key;

        var paths = layers.Select(l => l.GetName()).ToArray();
        var leaves = paths.Select(p => p[(p.LastIndexOf('.') + 1)..]).Distinct().ToArray();
        var byLeaf = ModelAdapters.SlotPaths(model).Where(p => leaves.Any(leaf => Injection.ModulePath.Matches(p, leaf))).ToHashSet();
        var targets = byLeaf.SetEquals(paths) ? leaves : paths;
        return new PeftLoraConfig
        {
            R = r,
            LoraAlpha = alpha,
            TargetModules = ModuleSelector.Names(targets),
            RankPattern = adapters.Where(a => a.Config.R != r).ToDictionary(a => Regex.Escape(a.Layer.GetName()), a => a.Config.R),
            AlphaPattern = adapters.Where(a => a.Config.Alpha != alpha).ToDictionary(a => Regex.Escape(a.Layer.GetName()), a => a.Config.Alpha),
            LoraDropout = first.Dropout,
            Bias = first.Bias,
            UseRsLora = first.UseRsLora,
            UseDora = first.UseDora,
            InitLoraWeights = first.Init,
        };
    }

    /// <summary>
    /// Missing and unexpected keys; when one prefix explains them all (the file was saved from a model whose
    /// root differs, e.g. <c>model.layers.0...</c> against <c>layers.0...</c>), says so instead of listing keys.
    /// </summary>
    private static string KeyMismatch(string[] missing, string[] unexpected)
    {
        if (missing.Length > 0 && unexpected.Length > 0)
        {
            string[] m = missing.Select(StripPrefix).ToArray(), u = unexpected.Select(StripPrefix).ToArray();
            if (SharedPrefix(longer: u, shorter: m) is { } extra)
                return $"its keys have '{extra}' before the model's module paths (e.g. '{unexpected[0]}' where the model needs '{missing[0]}'): it was saved from a model whose root holds this one under '{extra.TrimEnd('.')}'";
            if (SharedPrefix(longer: m, shorter: u) is { } lacking)
                return $"its keys lack '{lacking}' before the model's module paths (e.g. '{unexpected[0]}' where the model needs '{missing[0]}'): it was saved from a part of this model (the module under '{lacking.TrimEnd('.')}')";
        }
        return $"does not fit the model: missing keys [{string.Join(", ", missing.Take(5))}]{More(missing)}, unexpected keys [{string.Join(", ", unexpected.Take(5))}]{More(unexpected)}";
    }

    private static string StripPrefix(string key) => key.StartsWith(KeyPrefix, StringComparison.Ordinal) ? key[KeyPrefix.Length..] : key;

    /// <summary>The module path p (ending in '.') such that every key of <paramref name="longer"/> is p + a key of <paramref name="shorter"/> and back; null if there is none.</summary>
    private static string? SharedPrefix(string[] longer, string[] shorter)
    {
        if (!longer[0].EndsWith("." + shorter[0], StringComparison.Ordinal)) return null;
        string prefix = longer[0][..^shorter[0].Length];
        var longerKeys = longer.ToHashSet(StringComparer.Ordinal);
        return longer.All(k => k.StartsWith(prefix, StringComparison.Ordinal)) && shorter.All(k => longerKeys.Contains(prefix + k)) ? prefix : null;
    }

    private static string RankOf(ModelAdapters.AdapterPlan plan, string key) =>
        plan.Targets.FirstOrDefault(t => key.StartsWith(KeyPrefix + t.Slot.Path + ".lora_", StringComparison.Ordinal)).Settings?.R.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-";

    private static string More(string[] keys) => keys.Length > 5 ? $" and {keys.Length - 5} more" : "";
}
