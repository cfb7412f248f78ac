namespace LoraGen.Planning;

/// <summary>Published configurations of common models (their config.json sizes, rope_theta and norm epsilon), by a short name.</summary>
public static class ModelPresets
{
    private static readonly Dictionary<string, ModelConfig> Presets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["llama-2-7b"] = new("llama", ModelFamily.Llama, 4096, 11008, 32, 32, 32, 32000, false),
        ["llama-2-13b"] = new("llama", ModelFamily.Llama, 5120, 13824, 40, 40, 40, 32000, false),
        ["llama-2-70b"] = new("llama", ModelFamily.Llama, 8192, 28672, 80, 64, 8, 32000, false),
        ["llama-3-8b"] = new("llama", ModelFamily.Llama, 4096, 14336, 32, 32, 8, 128256, false, RopeTheta: 500000),
        ["llama-3-70b"] = new("llama", ModelFamily.Llama, 8192, 28672, 80, 64, 8, 128256, false, RopeTheta: 500000),
        ["tinyllama-1.1b"] = new("llama", ModelFamily.Llama, 2048, 5632, 22, 32, 4, 32000, false),
        ["smollm-135m"] = new("llama", ModelFamily.Llama, 576, 1536, 30, 9, 3, 49152, true),
        ["mistral-7b"] = new("mistral", ModelFamily.Llama, 4096, 14336, 32, 32, 8, 32000, false),
        ["qwen2-0.5b"] = new("qwen2", ModelFamily.Qwen2, 896, 4864, 24, 14, 2, 151936, true, RopeTheta: 1000000, NormEps: 1e-6),
        ["qwen2-7b"] = new("qwen2", ModelFamily.Qwen2, 3584, 18944, 28, 28, 4, 152064, false, RopeTheta: 1000000, NormEps: 1e-6),
        ["gpt2"] = new("gpt2", ModelFamily.Gpt2, 768, 3072, 12, 12, 12, 50257, true, 1024),
        ["gpt2-medium"] = new("gpt2", ModelFamily.Gpt2, 1024, 4096, 24, 16, 16, 50257, true, 1024),
        ["gpt2-large"] = new("gpt2", ModelFamily.Gpt2, 1280, 5120, 36, 20, 20, 50257, true, 1024),
        ["gpt2-xl"] = new("gpt2", ModelFamily.Gpt2, 1600, 6400, 48, 25, 25, 50257, true, 1024),
        ["phi-2"] = new("phi", ModelFamily.Phi, 2560, 10240, 32, 32, 32, 51200, false, RotaryFraction: 0.4),
    };

    public static IEnumerable<string> Names => Presets.Keys;

    public static ModelConfig Get(string name) =>
        Presets.TryGetValue(name, out var config) ? config
            : throw new PlanException($"unknown preset '{name}' (known: {string.Join(", ", Presets.Keys)})");
}
