using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoraGen.Adapters;
using LoraGen.Layers;

namespace LoraGen.Checkpoints;

/// <summary>
/// peft's <c>adapter_config.json</c>, both ways. Reading is strict: a field of the wrong type is named, and a field
/// that would change the tensors' meaning in a way LoraGen does not implement (another peft_type, lora_bias,
/// QA-LoRA, Megatron, target_parameters, a PiSSA/LoftQ-style init, any unknown field with a value) is refused by
/// name, never ignored. peft ignores unknown fields with a warning; we refuse them unless they hold their "off"
/// value (null, false, empty), since a newer peft writes such fields with their defaults.
/// </summary>
public static class AdapterConfigFile
{
    /// <summary>Fields read into <see cref="PeftLoraConfig"/>.</summary>
    private static readonly HashSet<string> Used =
    [
        "peft_type", "r", "lora_alpha", "target_modules", "exclude_modules", "rank_pattern", "alpha_pattern", "layers_to_transform",
        "layers_pattern", "lora_dropout", "bias", "use_rslora", "use_dora", "init_lora_weights", "fan_in_fan_out", "modules_to_save",
        "task_type", "base_model_name_or_path", "revision",
    ];

    /// <summary>Fields that describe the file or the training run, not the tensors.</summary>
    private static readonly HashSet<string> Metadata =
        ["inference_mode", "auto_mapping", "peft_version", "megatron_core", "runtime_config", "qalora_group_size"];

    public static PeftLoraConfig Read(string path)
    {
        var text = InputFile.ReadAllText(path, InputFile.JsonLimit);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw CheckpointException.For(path, $"not valid JSON ({e.Message})");
        }
        if (root is not JsonObject o) throw CheckpointException.For(path, "must be a JSON object");
        var reader = new FieldReader(path, o);

        var peftType = reader.String("peft_type") ?? throw CheckpointException.For(path, "field 'peft_type' is missing (peft needs it too)");
        if (peftType != "LORA") throw CheckpointException.For(path, $"field 'peft_type' is '{peftType}'; LoraGen loads LORA adapters only");
        foreach (var (name, value) in o)
        {
            if (Used.Contains(name) || Metadata.Contains(name) || IsOff(value)) continue;
            throw CheckpointException.For(path, $"field '{name}' = {value!.ToJsonString()} is not supported by LoraGen (it would change what the tensors mean)");
        }

        var config = new PeftLoraConfig
        {
            R = reader.Int("r") ?? 8,
            LoraAlpha = reader.Number("lora_alpha") ?? 8,
            TargetModules = reader.Selector("target_modules"),
            ExcludeModules = reader.Selector("exclude_modules"),
            RankPattern = reader.Map("rank_pattern", v => reader.IntValue("rank_pattern", v)),
            AlphaPattern = reader.Map("alpha_pattern", v => reader.NumberValue("alpha_pattern", v)),
            LayersToTransform = reader.IntList("layers_to_transform"),
            LayersPattern = reader.StringList("layers_pattern"),
            LoraDropout = reader.Number("lora_dropout") ?? 0,
            Bias = reader.String("bias") switch
            {
                null or "none" => LoraBias.None,
                "all" => LoraBias.All,
                "lora_only" => LoraBias.LoraOnly,
                var other => throw CheckpointException.For(path, $"field 'bias' is '{other}'; peft allows \"none\", \"all\" or \"lora_only\""),
            },
            UseRsLora = reader.Bool("use_rslora") ?? false,
            UseDora = reader.Bool("use_dora") ?? false,
            InitLoraWeights = reader.Init(),
            FanInFanOut = reader.Bool("fan_in_fan_out") ?? false,
            ModulesToSave = reader.StringList("modules_to_save"),
            TaskType = reader.String("task_type"),
            BaseModelNameOrPath = reader.String("base_model_name_or_path"),
            Revision = reader.String("revision"),
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw CheckpointException.For(path, e);
        }
        return config;
    }

    /// <summary>The JSON peft's <c>save_pretrained</c> writes for <paramref name="config"/> (with <c>inference_mode</c> true).</summary>
    public static byte[] Write(PeftLoraConfig config)
    {
        JsonNode? Selector(ModuleSelector? s) => s?.ToJsonValue() switch
        {
            string text => JsonValue.Create(text),
            string[] names => new JsonArray(names.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
            _ => null,
        };
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = config.TaskType,
            ["base_model_name_or_path"] = config.BaseModelNameOrPath,
            ["revision"] = config.Revision,
            ["r"] = config.R,
            ["lora_alpha"] = config.LoraAlpha,
            ["lora_dropout"] = config.LoraDropout,
            ["target_modules"] = Selector(config.TargetModules),
            ["exclude_modules"] = Selector(config.ExcludeModules),
            ["bias"] = config.Bias switch { LoraBias.All => "all", LoraBias.LoraOnly => "lora_only", _ => "none" },
            ["use_rslora"] = config.UseRsLora,
            ["use_dora"] = config.UseDora,
            ["init_lora_weights"] = config.InitLoraWeights switch
            {
                LoraInit.Gaussian => JsonValue.Create("gaussian"),
                LoraInit.LinearDefault => JsonValue.Create(false),
                _ => JsonValue.Create(true),
            },
            ["rank_pattern"] = new JsonObject(config.RankPattern.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
            ["alpha_pattern"] = new JsonObject(config.AlphaPattern.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
            ["layers_to_transform"] = config.LayersToTransform is { } layers ? new JsonArray(layers.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()) : null,
            ["layers_pattern"] = config.LayersPattern is { } patterns ? new JsonArray(patterns.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()) : null,
            ["fan_in_fan_out"] = config.FanInFanOut,
            ["modules_to_save"] = config.ModulesToSave is { } saved ? new JsonArray(saved.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()) : null,
            ["inference_mode"] = true,
            ["lora_bias"] = false,
        };
        return System.Text.Encoding.UTF8.GetBytes(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>null, false, an empty object or list: how peft writes a feature that is off.</summary>
    private static bool IsOff(JsonNode? value) => value switch
    {
        null => true,
        JsonValue v when v.TryGetValue(out bool b) => !b,
        JsonObject { Count: 0 } or JsonArray { Count: 0 } => true,
        _ => false,
    };

    /// <summary>Typed access to the fields, each error naming the file and the field.</summary>
    private sealed class FieldReader(string path, JsonObject o)
    {
        public string? String(string field) => o[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            var other => throw Wrong(field, "a string", other),
        };

        public bool? Bool(string field) => o[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out bool b) => b,
            var other => throw Wrong(field, "true or false", other),
        };

        public double? Number(string field) => o[field] is null ? null : NumberValue(field, o[field]);

        public int? Int(string field) => o[field] is null ? null : IntValue(field, o[field]);

        public double NumberValue(string field, JsonNode? value) =>
            value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && double.TryParse(v.ToJsonString(), System.Globalization.NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && double.IsFinite(number)
                ? number : throw Wrong(field, "a finite number", value);

        public int IntValue(string field, JsonNode? value) =>
            value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int i)
                ? i : throw Wrong(field, "a whole number", value);

        public IReadOnlyList<int>? IntList(string field) => o[field] switch
        {
            null => null,
            JsonArray a => a.Select(item => IntValue(field, item)).ToArray(),
            JsonValue v when v.GetValueKind() == JsonValueKind.Number => [IntValue(field, v)],
            var other => throw Wrong(field, "a whole number or a list of them", other),
        };

        public IReadOnlyList<string>? StringList(string field) => o[field] switch
        {
            null => null,
            JsonArray a => a.Select(item => item is JsonValue v && v.TryGetValue(out string? s) ? s : throw Wrong(field, "a list of strings", a)).ToArray(),
            JsonValue v when v.TryGetValue(out string? s) => [s],
            var other => throw Wrong(field, "a string or a list of strings", other),
        };

        public ModuleSelector? Selector(string field) => o[field] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) =>
                s.Equals("all-linear", StringComparison.OrdinalIgnoreCase) ? ModuleSelector.AllLinear : Regex(field, s),
            JsonArray a => ModuleSelector.Names(StringList(field)!.ToArray()),
            var other => throw Wrong(field, "a list of module names or a regular expression", other),
        };

        private ModuleSelector Regex(string field, string pattern)
        {
            try
            {
                return ModuleSelector.Pattern(pattern);
            }
            catch (ArgumentException)
            {
                throw CheckpointException.For(path, $"field '{field}' is not a valid regular expression: {pattern}");
            }
        }

        public IReadOnlyDictionary<string, T> Map<T>(string field, Func<JsonNode?, T> value) => o[field] switch
        {
            null => new Dictionary<string, T>(),
            JsonObject map => map.ToDictionary(p => p.Key, p => value(p.Value)),
            var other => throw Wrong(field, "an object", other),
        };

        public LoraInit Init() => o["init_lora_weights"] switch
        {
            null => LoraInit.KaimingUniform,
            JsonValue v when v.TryGetValue(out bool b) => b ? LoraInit.KaimingUniform : LoraInit.LinearDefault,
            JsonValue v when v.TryGetValue(out string? s) && s == "gaussian" => LoraInit.Gaussian,
            JsonValue v when v.TryGetValue(out string? s) => throw CheckpointException.For(path,
                $"field 'init_lora_weights' is '{s}': an initialisation that changes the base weights (PiSSA, OLoRA, LoftQ, CorDA, ...) is not supported by LoraGen"),
            var other => throw Wrong("init_lora_weights", "true, false or \"gaussian\"", other),
        };

        private CheckpointException Wrong(string field, string expected, JsonNode? got) =>
            CheckpointException.For(path, $"field '{field}' must be {expected}; got {got?.ToJsonString() ?? "null"}");
    }
}
