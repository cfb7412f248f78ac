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
        ["llama-3.2-1b"] = new("llama", ModelFamily.Llama, 2048, 8192, 16, 32, 8, 128256, true, RopeTheta: 500000, HeadDimension: 64,
            RopeScaling: new RopeScaling("llama3", 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192)),
        ["tinyllama-1.1b"] = new("llama", ModelFamily.Llama, 2048, 5632, 22, 32, 4, 32000, false),
        ["smollm-135m"] = new("llama", ModelFamily.Llama, 576, 1536, 30, 9, 3, 49152, true),
        ["mistral-7b"] = new("mistral", ModelFamily.Llama, 4096, 14336, 32, 32, 8, 32000, false),
        ["mistral-nemo-12b"] = new("mistral", ModelFamily.Llama, 5120, 14336, 40, 32, 8, 131072, false, RopeTheta: 1000000, HeadDimension: 128),
        ["qwen2-0.5b"] = new("qwen2", ModelFamily.Qwen2, 896, 4864, 24, 14, 2, 151936, true, RopeTheta: 1000000, NormEps: 1e-6),
        ["qwen2-7b"] = new("qwen2", ModelFamily.Qwen2, 3584, 18944, 28, 28, 4, 152064, false, RopeTheta: 1000000, NormEps: 1e-6),
        ["qwen3-0.6b"] = new("qwen3", ModelFamily.Qwen3, 1024, 3072, 28, 16, 8, 151936, true, RopeTheta: 1000000, NormEps: 1e-6, HeadDimension: 128),
        ["qwen3-8b"] = new("qwen3", ModelFamily.Qwen3, 4096, 12288, 36, 32, 8, 151936, false, RopeTheta: 1000000, NormEps: 1e-6, HeadDimension: 128),
        ["gemma-2-2b"] = new("gemma2", ModelFamily.Gemma2, 2304, 9216, 26, 8, 4, 256000, true, NormEps: 1e-6, HeadDimension: 256,
            SlidingWindow: 4096, SlidingWindowPattern: 2, QueryPreAttnScalar: 256, AttentionSoftcap: 50, FinalLogitSoftcap: 30),
        ["gemma-3-1b"] = new("gemma3_text", ModelFamily.Gemma3, 1152, 6912, 26, 4, 1, 262144, true, RopeTheta: 1000000, NormEps: 1e-6, HeadDimension: 256,
            SlidingWindow: 512, SlidingWindowPattern: 6, LocalRopeTheta: 10000, QueryPreAttnScalar: 256),
        ["phi-3-mini"] = new("phi3", ModelFamily.Phi3, 3072, 8192, 32, 32, 32, 32064, false, SlidingWindow: 2047),   // Phi-3-mini-4k
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
