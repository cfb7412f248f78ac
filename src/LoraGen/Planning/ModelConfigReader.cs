using System.Text.Json;

namespace LoraGen.Planning;

/// <summary>Reads a Hugging Face config.json into a <see cref="ModelConfig"/>, strictly.</summary>
public static class ModelConfigReader
{
    public static readonly string[] SupportedTypes = ["llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "gpt2", "phi", "phi3"];

    /// <param name="path">A config.json, or a model folder holding one.</param>
    public static ModelConfig FromFile(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        string json;
        try
        {
            json = Checkpoints.InputFile.ReadAllText(path, Checkpoints.InputFile.JsonLimit);
        }
        catch (Checkpoints.CheckpointException e)
        {
            throw new PlanException(e.Message);
        }
        try
        {
            return FromJson(json, path);
        }
        catch (JsonException e)
        {
            throw new PlanException($"{path}: not valid JSON ({e.Message})");
        }
    }

    /// <param name="source">Named in every error, e.g. the file path.</param>
    public static ModelConfig FromJson(string json, string source = "config.json")
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new PlanException($"{source}: the top level must be a JSON object");
        string modelType = root.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()! : throw new PlanException($"{source}: missing field 'model_type'");

        int Required(string field) => Positive(source, field, root.TryGetProperty(field, out var v) ? v : null, required: true)!.Value;
        int? Optional(string field) => Positive(source, field, root.TryGetProperty(field, out var v) ? v : null, required: false);
        bool Flag(string field, bool fallback) =>
            root.TryGetProperty(field, out var v) ? v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new PlanException($"{source}: field '{field}' must be true or false; got {v.GetRawText()}"),
            } : fallback;

        double Real(string field, double fallback, double max = double.MaxValue)
        {
            if (!root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value) || !(value > 0 && value <= max))
                throw new PlanException(max == double.MaxValue
                    ? $"{source}: field '{field}' must be a positive finite number; got {v.GetRawText()}"
                    : $"{source}: field '{field}' must be a number in (0, {max}]; got {v.GetRawText()}");
            return value;
        }

        // Absent: the config class's default; null: switched off (Gemma's soft-capping).
        double? OffWhenNull(string field, double? fallback) =>
            !root.TryGetProperty(field, out var v) ? fallback : v.ValueKind == JsonValueKind.Null ? null : Real(field, 0);

        string Text(string field, string fallback) =>
            !root.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null ? fallback
                : v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new PlanException($"{source}: field '{field}' must be a string; got {v.GetRawText()}");

        // The activation each family's MLP computes; another one would be computed wrongly, so it is refused by name.
        void Activation(string field, string fallback, params string[] accepted)
        {
            string name = Text(field, fallback);
            if (!accepted.Contains(name))
                throw new PlanException($"{source}: field '{field}' is '{name}'; {modelType} is computed with {string.Join(" or ", accepted)} only");
        }

        void Refused(string field, string why)
        {
            if (Flag(field, false)) throw new PlanException($"{source}: field '{field}' is true; {why}");
        }

        try
        {
            return Validated(Build(), source);
        }
        catch (OverflowException)
        {
            throw new PlanException($"{source}: the sizes are too large to mean anything (a product of them passes 2^31)");
        }

        ModelConfig Build() => modelType switch
        {
            "llama" or "mistral" or "qwen2" => new ModelConfig(modelType, modelType == "qwen2" ? ModelFamily.Qwen2 : ModelFamily.Llama,
                Required("hidden_size"), Required("intermediate_size"), Required("num_hidden_layers"), Required("num_attention_heads"),
                Optional("num_key_value_heads") ?? Required("num_attention_heads"), Required("vocab_size"), Flag("tie_word_embeddings", false),
                RopeTheta: Real("rope_theta", 10000), NormEps: Real("rms_norm_eps", 1e-6), HeadDimension: Optional("head_dim"),   // LlamaConfig's defaults
                AttentionBias: Flag("attention_bias", false), MlpBias: Flag("mlp_bias", false), RopeScaling: ReadRopeScaling(root, source),
                SlidingWindow: modelType == "mistral" ? Optional("sliding_window") : null),   // Mistral uses it when set
            "qwen3" => Qwen3(),
            "gemma2" or "gemma3_text" => Gemma(),
            "phi3" => Phi3(),
            "gpt2" => new ModelConfig(modelType, ModelFamily.Gpt2,
                Required("n_embd"), Optional("n_inner") ?? checked(4 * Required("n_embd")), Required("n_layer"), Required("n_head"), Required("n_head"),
                Required("vocab_size"), TieWordEmbeddings: true, MaxPositions: Required("n_positions"),
                NormEps: Real("layer_norm_epsilon", 1e-5)),
            "phi" => new ModelConfig(modelType, ModelFamily.Phi,
                Required("hidden_size"), Required("intermediate_size"), Required("num_hidden_layers"), Required("num_attention_heads"),
                Optional("num_key_value_heads") ?? Required("num_attention_heads"), Required("vocab_size"), Flag("tie_word_embeddings", false),
                RotaryFraction: Real("partial_rotary_factor", 0.5, max: 1),             // PhiConfig's defaults
                RopeTheta: Real("rope_theta", 10000), NormEps: Real("layer_norm_eps", 1e-5)),
            _ => throw new PlanException($"{source}: model_type '{modelType}' is not supported (supported: {string.Join(", ", SupportedTypes)})"),
        };

        ModelConfig Qwen3()   // Qwen3Config's defaults
        {
            Activation("hidden_act", "silu", "silu");
            Refused("use_sliding_window", "Qwen3's sliding layers (from max_window_layers on) are not computed by LoraGen");
            LayerTypes(root, source, Required("num_hidden_layers"), pattern: null);
            return new ModelConfig(modelType, ModelFamily.Qwen3,
                Required("hidden_size"), Required("intermediate_size"), Required("num_hidden_layers"), Required("num_attention_heads"),
                Optional("num_key_value_heads") ?? Required("num_attention_heads"), Required("vocab_size"), Flag("tie_word_embeddings", false),
                RopeTheta: Real("rope_theta", 10000), NormEps: Real("rms_norm_eps", 1e-6), HeadDimension: Optional("head_dim") ?? 128,
                AttentionBias: Flag("attention_bias", false), RopeScaling: ReadRopeScaling(root, source));
        }

        ModelConfig Gemma()   // Gemma2Config's and Gemma3TextConfig's defaults
        {
            bool three = modelType == "gemma3_text";
            Activation("hidden_activation", "gelu_pytorch_tanh", "gelu_pytorch_tanh");
            Refused("use_bidirectional_attention", "only causal attention is computed");
            int pattern = three ? Optional("sliding_window_pattern") ?? 6 : 2;   // Gemma 2: even layers slide
            LayerTypes(root, source, Required("num_hidden_layers"), pattern);
            return new ModelConfig(modelType, three ? ModelFamily.Gemma3 : ModelFamily.Gemma2,
                Required("hidden_size"), Required("intermediate_size"), Required("num_hidden_layers"), Required("num_attention_heads"),
                Optional("num_key_value_heads") ?? 4, Required("vocab_size"), Flag("tie_word_embeddings", true),
                RopeTheta: Real("rope_theta", three ? 1_000_000 : 10000), NormEps: Real("rms_norm_eps", 1e-6), HeadDimension: Optional("head_dim") ?? 256,
                AttentionBias: Flag("attention_bias", false), RopeScaling: ReadRopeScaling(root, source),
                SlidingWindow: Optional("sliding_window") ?? 4096, SlidingWindowPattern: pattern,
                LocalRopeTheta: three ? Real("rope_local_base_freq", 10000) : null, QueryPreAttnScalar: Real("query_pre_attn_scalar", 256),
                AttentionSoftcap: OffWhenNull("attn_logit_softcapping", three ? null : 50), FinalLogitSoftcap: OffWhenNull("final_logit_softcapping", three ? null : 30));
        }

        ModelConfig Phi3()   // Phi3Config's defaults; the longrope scaling of the 128k variants is refused by ReadRopeScaling
        {
            Activation("hidden_act", "silu", "silu");
            return new ModelConfig(modelType, ModelFamily.Phi3,
                Required("hidden_size"), Required("intermediate_size"), Required("num_hidden_layers"), Required("num_attention_heads"),
                Optional("num_key_value_heads") ?? Required("num_attention_heads"), Required("vocab_size"), Flag("tie_word_embeddings", false),
                RotaryFraction: Real("partial_rotary_factor", 1.0, max: 1), RopeTheta: Real("rope_theta", 10000), NormEps: Real("rms_norm_eps", 1e-5),
                HeadDimension: Optional("head_dim"), RopeScaling: ReadRopeScaling(root, source), SlidingWindow: Optional("sliding_window"));
        }
    }

    /// <summary>
    /// layer_types as newer transformers writes it: accepted when it says what the family's pattern says (every
    /// pattern-th layer "full_attention", the others "sliding_attention"; no pattern: all "full_attention"), refused otherwise.
    /// </summary>
    private static void LayerTypes(JsonElement root, string source, int layers, int? pattern)
    {
        if (!root.TryGetProperty("layer_types", out var types) || types.ValueKind == JsonValueKind.Null) return;
        var expected = Enumerable.Range(0, layers)
            .Select(i => pattern is int p && (i + 1) % p != 0 ? "sliding_attention" : "full_attention").ToArray();
        bool same = types.ValueKind == JsonValueKind.Array && types.GetArrayLength() == layers
            && types.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String ? t.GetString() : null).SequenceEqual(expected);
        if (!same)
            throw new PlanException(pattern is int n
                ? $"{source}: field 'layer_types' differs from the arrangement LoraGen computes (layer i full_attention when (i + 1) % {n} == 0, else sliding_attention)"
                : $"{source}: field 'layer_types' must list \"full_attention\" for each of the {layers} layers; sliding layers are not computed");
    }

    /// <summary>Checks that need the whole config; sizes that multiply past an int are an overflow, turned into a message above.</summary>
    private static ModelConfig Validated(ModelConfig config, string source)
    {
        _ = checked(config.QDim + config.KvDim + 4L * config.HiddenSize);
        if (config.HeadDimension is null && config.HiddenSize % config.Heads != 0)
            throw new PlanException($"{source}: hidden size {config.HiddenSize} is not divisible by the {config.Heads} attention heads");
        if (config.Heads % config.KvHeads != 0)
            throw new PlanException($"{source}: {config.Heads} attention heads are not divisible by the {config.KvHeads} key/value heads");
        return config;
    }

    /// <summary>rope_scaling as transformers reads it (rope_type, or the older type); a kind LoraGen does not compute is refused by name.</summary>
    private static RopeScaling? ReadRopeScaling(JsonElement root, string source)
    {
        // transformers 5 moves rope_theta and rope_scaling into rope_parameters; read as absent they would fall back to defaults.
        if (root.TryGetProperty("rope_parameters", out var parameters) && parameters.ValueKind != JsonValueKind.Null)
            throw new PlanException($"{source}: field 'rope_parameters' (transformers 5's layout) is not read; give rope_theta and rope_scaling as transformers 4 writes them");
        if (!root.TryGetProperty("rope_scaling", out var scaling) || scaling.ValueKind == JsonValueKind.Null) return null;
        if (scaling.ValueKind != JsonValueKind.Object) throw new PlanException($"{source}: field 'rope_scaling' must be an object or null; got {scaling.GetRawText()}");
        string type = (scaling.TryGetProperty("rope_type", out var t) || scaling.TryGetProperty("type", out t)) && t.ValueKind == JsonValueKind.String
            ? t.GetString()! : throw new PlanException($"{source}: field 'rope_scaling' has no rope_type");
        if (type == "default") return null;
        if (!RopeScaling.SupportedTypes.Contains(type))
            throw new PlanException($"{source}: rope_scaling type '{type}' is not supported (supported: {string.Join(", ", RopeScaling.SupportedTypes)})");
        double Number(string field, double? fallback)
        {
            if (scaling.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double value) && double.IsFinite(value) && value > 0) return value;
            return fallback ?? throw new PlanException($"{source}: rope_scaling needs a positive '{field}'");
        }
        int? maxPositions = null;
        if (root.TryGetProperty("max_position_embeddings", out var m) && m.ValueKind != JsonValueKind.Null)
            maxPositions = m.ValueKind == JsonValueKind.Number && m.TryGetInt32(out int positions) && positions > 0
                ? positions : throw new PlanException($"{source}: field 'max_position_embeddings' must be a positive whole number; got {m.GetRawText()}");
        int Whole(string field)
        {
            if (scaling.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int value) && value > 0) return value;
            throw new PlanException($"{source}: rope_scaling needs a positive whole '{field}'");
        }
        return type switch
        {
            "linear" => new RopeScaling(type, Number("factor", null)),
            "dynamic" => new RopeScaling(type, Number("factor", null), OriginalMaxPositions: maxPositions
                ?? throw new PlanException($"{source}: rope_scaling 'dynamic' needs max_position_embeddings")),
            "yarn" => new RopeScaling(type, Number("factor", null),
                OriginalMaxPositions: scaling.TryGetProperty("original_max_position_embeddings", out _) ? Whole("original_max_position_embeddings")
                    : maxPositions ?? throw new PlanException($"{source}: rope_scaling 'yarn' needs original_max_position_embeddings or max_position_embeddings"),
                BetaFast: Number("beta_fast", 32), BetaSlow: Number("beta_slow", 1),
                AttentionFactorOverride: scaling.TryGetProperty("attention_factor", out var af) && af.ValueKind == JsonValueKind.Number ? af.GetDouble() : null),
            _ => new RopeScaling(type, Number("factor", null), Number("low_freq_factor", null), Number("high_freq_factor", null),
                Whole("original_max_position_embeddings")),
        };
    }

    private static int? Positive(string source, string field, JsonElement? value, bool required)
    {
        if (value is not { } v || v.ValueKind == JsonValueKind.Null)
            return required ? throw new PlanException($"{source}: missing field '{field}'") : null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int number))
            throw new PlanException($"{source}: field '{field}' must be a whole number; got {v.GetRawText()}");
        if (number <= 0) throw new PlanException($"{source}: field '{field}' must be positive; got {number}");
        return number;
    }
}
