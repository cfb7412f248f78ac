using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Llama;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using LoraGen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>Where the demo's base came from: the folder (HF layout), and whether this run pretrained it.</summary>
internal sealed record PreparedBase(string Folder, bool Restored, double Seconds, IReadOnlyList<StepReport> History);

/// <summary>
/// The demo's base: a small Llama with a character-level tokenizer, pretrained from random weights on the
/// pretraining skills (full training through <see cref="Trainer"/>), then kept as a Hugging Face folder in the user's
/// cache under a hash of everything that made it, so a later run restores it instead of training again.
/// </summary>
internal static class DemoBaseModel
{
    public static readonly Skill[] PretrainingSkills = [Skill.Copy, Skill.Reverse];
    private const int Bos = 0, Eos = 1;
    private const double LearningRate = 3e-3;
    private const string Symbols = ":>";

    public static PreparedBase Prepare(DemoScale scale, int seed, IReadOnlyList<string> words, Device device)
    {
        string config = Config(scale), tokenizer = Tokenizer();
        const string tokenizerConfig = """{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>"}""";   // Llama's: BOS first
        var records = TaskLanguage.Records(PretrainingSkills, words);
        string folder = CacheFolder(config + tokenizerConfig, tokenizer, records, scale.PretrainSteps, seed);
        if (File.Exists(Path.Combine(folder, "model.safetensors"))) return new PreparedBase(folder, true, 0, []);

        string description = Directory.CreateTempSubdirectory("loragen-demo-base-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(description, "config.json"), config);
            File.WriteAllText(Path.Combine(description, "tokenizer.json"), tokenizer);
            File.WriteAllText(Path.Combine(description, "tokenizer_config.json"), tokenizerConfig);
            var clock = Stopwatch.StartNew();
            var encoder = TokenEncoder.FromFolder(description);
            var examples = SequenceLayout.Pad(records.Select(encoder.Encode).ToList(), TaskLanguage.SequenceLength, Eos);
            manual_seed(seed);
            using var model = new LlamaForCausalLM(ModelConfigReader.FromFile(description));
            model.to(device);
            var options = new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Cosine, LearningRate, scale.PretrainSteps / 10, scale.PretrainSteps));
            using var trainer = new Trainer(model, ids => ((ICausalLanguageModel)model).Forward(ids.to(device), null), new ShuffledBatches(examples, DemoScale.Batch, seed), options);
            trainer.Run();
            HfModels.SaveFolder(model, description, folder, ScalarType.Float32);
            return new PreparedBase(folder, false, clock.Elapsed.TotalSeconds, trainer.History);
        }
        finally
        {
            Directory.Delete(description, recursive: true);
        }
    }

    /// <summary>config.json of a Llama with the tokenizer's begin and end ids and a context that fits every record.</summary>
    internal static string Config(DemoScale scale) => string.Create(CultureInfo.InvariantCulture, $$"""
        {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": {{scale.Hidden}}, "intermediate_size": {{scale.Intermediate}},
         "num_hidden_layers": {{scale.Layers}}, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": {{2 + TaskLanguage.Letters.Length + Symbols.Length}},
         "tie_word_embeddings": false, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 32,
         "bos_token_id": {{Bos}}, "eos_token_id": {{Eos}}, "torch_dtype": "float32"}
        """);

    /// <summary>tokenizer.json: BPE without merges, one token per character, and the begin and end tokens as added special tokens.</summary>
    private static string Tokenizer()
    {
        var pieces = new[] { "<s>", "</s>" }.Concat((TaskLanguage.Letters + Symbols).Select(c => c.ToString())).ToArray();
        string vocab = string.Join(", ", pieces.Select((piece, id) => $"\"{piece}\": {id}"));
        return $$"""
            {"added_tokens": [{"id": {{Bos}}, "content": "<s>", "special": true}, {"id": {{Eos}}, "content": "</s>", "special": true}],
             "model": {"type": "BPE", "vocab": {
            """ + vocab + "}, \"merges\": []}}";
    }

    /// <summary>demo-base-&lt;hash&gt; under $XDG_CACHE_HOME/loragen (or ~/.cache/loragen): the hash covers the config, tokenizer, corpus, steps and seed.</summary>
    private static string CacheFolder(string config, string tokenizer, IEnumerable<TrainingRecord> records, int steps, int seed)
    {
        var text = new StringBuilder(config).Append(tokenizer).Append(steps).Append(" ").Append(TaskLanguage.SequenceLength).Append(' ').Append(seed).Append(' ').Append(LearningRate.ToString("R", CultureInfo.InvariantCulture));
        foreach (var record in records) text.Append('\n').AppendJoin('|', record.Segments.Select(s => s.Text));
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
        string root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "loragen", $"demo-base-{hash}");
    }
}
