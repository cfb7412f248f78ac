using System.Text.Json;
using System.Text.Json.Nodes;
using LoraGen.Injection;
using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// Adapters in peft's format, both ways: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> with
/// peft's keys (<c>base_model.model.{path}.lora_A.weight</c>, <c>.lora_B.weight</c>, <c>.lora_magnitude_vector</c>
/// for DoRA; the adapter name is not in the key). Layers whose r or alpha differ from the most common pair
/// are written to rank_pattern / alpha_pattern, as peft does.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    private const string Prefix = "base_model.model.";

    /// <summary>Saves adapter <paramref name="adapterName"/> of <paramref name="layers"/> (named by their module paths) to <paramref name="directory"/>.</summary>
    public static void Save(string directory, IReadOnlyList<LoraLinear> layers, string adapterName = "default",
        string? baseModel = null, string taskType = "CAUSAL_LM")
    {
        if (layers.Count == 0) throw CheckpointException.For(directory, "no adapted layers to save");
        var adapters = layers.Select(l => (Layer: l, Adapter: l.Adapter(adapterName))).ToArray();
        var first = adapters[0].Adapter.Config;
        foreach (var (layer, adapter) in adapters)
        {
            var c = adapter.Config;
            if (c.UseDora != first.UseDora || c.UseRsLora != first.UseRsLora || c.Dropout != first.Dropout || c.Bias != first.Bias || c.Init != first.Init)
                throw CheckpointException.For(directory, $"layer '{layer.GetName()}' differs from '{adapters[0].Layer.GetName()}' in a setting peft stores once per adapter (dropout, rsLoRA, DoRA, init, bias)");
        }
        var (r, alpha) = adapters.GroupBy(a => (a.Adapter.Config.R, a.Adapter.Config.Alpha)).OrderByDescending(g => g.Count()).First().Key;
        var rankPattern = new JsonObject();
        var alphaPattern = new JsonObject();
        foreach (var (layer, adapter) in adapters)
        {
            if (adapter.Config.R != r) rankPattern[layer.GetName()] = adapter.Config.R;
            if (adapter.Config.Alpha != alpha) alphaPattern[layer.GetName()] = adapter.Config.Alpha;
        }

        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = taskType,
            ["base_model_name_or_path"] = baseModel,
            ["r"] = r,
            ["lora_alpha"] = alpha,
            ["lora_dropout"] = first.Dropout,
            ["target_modules"] = new JsonArray(adapters.Select(a => a.Layer.GetName().Split('.')[^1]).Distinct().Select(n => (JsonNode)JsonValue.Create(n)).ToArray()),
            ["bias"] = first.Bias switch { LoraBias.All => "all", LoraBias.LoraOnly => "lora_only", _ => "none" },
            ["use_rslora"] = first.UseRsLora,
            ["use_dora"] = first.UseDora,
            ["init_lora_weights"] = first.Init == LoraInit.Gaussian ? JsonValue.Create("gaussian") : JsonValue.Create(true),
            ["rank_pattern"] = rankPattern,
            ["alpha_pattern"] = alphaPattern,
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["modules_to_save"] = null,
            ["layers_to_transform"] = null,
            ["layers_pattern"] = null,
            ["lora_bias"] = false,
            ["revision"] = null,
        };

        var tensors = new List<(string, Tensor)>();
        foreach (var (layer, adapter) in adapters)
        {
            string key = Prefix + layer.GetName();
            tensors.Add((key + ".lora_A.weight", adapter.A.weight));
            tensors.Add((key + ".lora_B.weight", adapter.B.weight));
            if (adapter.Magnitude is { } magnitude) tensors.Add((key + ".lora_magnitude_vector", magnitude.weight));
        }
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var text = System.Text.Encoding.UTF8.GetBytes(config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.Write(Path.Combine(directory, ConfigFile), stream => stream.Write(text));
    }

    /// <summary>
    /// Loads an adapter saved by LoraGen or peft into <paramref name="layers"/>, which already hold adapter
    /// <paramref name="adapterName"/> (from ApplyLora) with the file's r and alpha. Every key, shape and rank is
    /// checked first, so a file that does not fit changes nothing; the error lists missing and unexpected keys.
    /// </summary>
    public static void Load(string directory, IReadOnlyList<LoraLinear> layers, string adapterName = "default")
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        var config = ReadConfig(configPath);
        using var file = SafetensorsFile.Open(weightsPath);

        var expected = new Dictionary<string, (LoraLinear Layer, string Part)>();
        foreach (var layer in layers)
        {
            var adapter = layer.Adapter(adapterName);
            string path = layer.GetName(), key = Prefix + path;
            int r = Pattern(config.RankPattern, path) ?? config.R;
            double alpha = Pattern(config.AlphaPattern, path) ?? config.Alpha;
            if (adapter.Config.R != r || adapter.Config.Alpha != alpha || adapter.Config.UseDora != config.UseDora || adapter.Config.UseRsLora != config.UseRsLora)
                throw CheckpointException.For(configPath,
                    $"layer '{path}' holds r={adapter.Config.R}, alpha={adapter.Config.Alpha}, dora={adapter.Config.UseDora}, rslora={adapter.Config.UseRsLora} but the file has r={r}, alpha={alpha}, dora={config.UseDora}, rslora={config.UseRsLora}");
            expected[key + ".lora_A.weight"] = (layer, "A");
            expected[key + ".lora_B.weight"] = (layer, "B");
            if (config.UseDora) expected[key + ".lora_magnitude_vector"] = (layer, "M");
        }
        var present = file.Entries.Select(e => e.Name).ToHashSet();
        var missing = expected.Keys.Where(k => !present.Contains(k)).ToArray();
        var unexpected = present.Where(k => !expected.ContainsKey(k)).ToArray();
        if (missing.Length > 0 || unexpected.Length > 0)
            throw CheckpointException.For(weightsPath,
                $"does not fit the model: missing keys [{string.Join(", ", missing.Take(5))}]{More(missing)}, unexpected keys [{string.Join(", ", unexpected.Take(5))}]{More(unexpected)}");
        foreach (var (key, (layer, part)) in expected)
        {
            var entry = file.Entry(key);
            var adapter = layer.Adapter(adapterName);
            var want = part switch { "A" => adapter.A.weight.shape, "B" => adapter.B.weight.shape, _ => adapter.Magnitude!.weight.shape };
            if (!entry.Shape.SequenceEqual(want))
                throw CheckpointException.For(weightsPath, key, $"has shape [{string.Join(", ", entry.Shape)}]; layer '{layer.GetName()}' needs [{string.Join(", ", want)}]");
        }

        using var scope = NewDisposeScope();
        foreach (var layer in layers)
        {
            string key = Prefix + layer.GetName();
            var dtype = layer.Adapter(adapterName).A.weight.dtype;
            layer.SetAdapterWeights(adapterName, file.Read(key + ".lora_A.weight").to(dtype), file.Read(key + ".lora_B.weight").to(dtype),
                config.UseDora ? file.Read(key + ".lora_magnitude_vector").to(dtype) : null);
        }
    }

    /// <summary>The settings of adapter_config.json that decide the tensors' shapes and meaning.</summary>
    public sealed record Config(int R, double Alpha, bool UseDora, bool UseRsLora, IReadOnlyDictionary<string, int> RankPattern, IReadOnlyDictionary<string, double> AlphaPattern);

    public static Config ReadConfig(string path)
    {
        if (!File.Exists(path)) throw CheckpointException.For(path, "no such file");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw CheckpointException.For(path, $"not valid JSON ({e.Message})");
        }
        if (root is not JsonObject o) throw CheckpointException.For(path, "must be a JSON object");
        if (o["peft_type"]?.GetValue<string>() is { } type && type != "LORA") throw CheckpointException.For(path, $"peft_type '{type}' is not LORA");
        if (o["fan_in_fan_out"]?.GetValue<bool>() == true) throw CheckpointException.For(path, "fan_in_fan_out adapters (Conv1D layout) are not supported; LoraGen's layers are Linear");
        try
        {
            int r = o["r"]?.GetValue<int>() ?? 8;                          // peft's defaults
            double alpha = o["lora_alpha"]?.GetValue<double>() ?? 8;
            if (r < 1) throw CheckpointException.For(path, $"r must be at least 1; got {r}");
            var ranks = (o["rank_pattern"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value!.GetValue<int>()) ?? [];
            var alphas = (o["alpha_pattern"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value!.GetValue<double>()) ?? [];
            return new Config(r, alpha, o["use_dora"]?.GetValue<bool>() ?? false, o["use_rslora"]?.GetValue<bool>() ?? false, ranks, alphas);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw CheckpointException.For(path, $"a field has the wrong type ({e.Message})");
        }
    }

    /// <summary>peft's rule for rank_pattern keys: the module path equals the key or ends with "." + key.</summary>
    private static T? Pattern<T>(IReadOnlyDictionary<string, T> patterns, string path) where T : struct =>
        patterns.Where(p => ModulePath.Matches(path, p.Key)).Select(p => (T?)p.Value).FirstOrDefault();

    private static string More(string[] keys) => keys.Length > 5 ? $" and {keys.Length - 5} more" : "";
}
