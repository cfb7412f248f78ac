using System.Text.Json;
using LoraGen.Checkpoints;
using LoraGen.Training;
using Microsoft.ML.Tokenizers;

namespace LoraGen.Models.Data;

/// <summary>A record's tokens, and for each whether it is learned.</summary>
public sealed record EncodedRecord(TrainingRecord Source, long[] Ids, bool[] Learned);

/// <summary>
/// Turns text pieces into token ids with a model's tokenizer. Special tokens written in the text (a chat format's
/// <c>&lt;|im_start|&gt;</c>, <c>&lt;/s&gt;</c>) become their single ids, as Hugging Face tokenizers treat added special tokens,
/// instead of being spelled out piece by piece.
/// </summary>
public sealed class TokenEncoder
{
    private readonly Tokenizer _tokenizer;
    private readonly (string Text, int Id)[] _specials;            // longest first, so "<|im_start|>" wins over "<"

    /// <param name="specials">Special token text → id.</param>
    /// <param name="bos">Prepended to text and prompt–completion records and prompts (not to chats, whose format places its own); null where the tokenizer adds none.</param>
    /// <param name="eos">Appended to text and prompt–completion records, learned with the last piece: the model learns to stop.</param>
    /// <param name="endTokens">Every id generation stops at (Llama 3.1 lists several); <paramref name="eos"/> when not given.</param>
    public TokenEncoder(Tokenizer tokenizer, IReadOnlyDictionary<string, int> specials, int? bos, int? eos, IReadOnlyCollection<long>? endTokens = null)
    {
        _tokenizer = tokenizer;
        _specials = specials.OrderByDescending(s => s.Key.Length).Select(s => (s.Key, s.Value)).ToArray();
        Bos = bos;
        Eos = eos;
        EndTokens = endTokens ?? (eos is { } e ? [e] : []);
    }

    public int? Bos { get; }

    public int? Eos { get; }

    public IReadOnlyCollection<long> EndTokens { get; }

    /// <summary>The tokenizer of a model folder with its special tokens (tokenizer.json's added_tokens; &lt;s&gt; and &lt;/s&gt; of a sentencepiece model) and config.json's bos/eos ids.</summary>
    public static TokenEncoder FromFolder(string folder)
    {
        var tokenizer = Tokenization.TokenizerLoader.FromFolder(folder);
        var specials = new Dictionary<string, int>();
        string json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json))
        {
            using var document = JsonDocument.Parse(InputFile.ReadAllText(json, InputFile.TokenizerLimit));
            if (document.RootElement.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var token in added.EnumerateArray())
                    if (token.TryGetProperty("content", out var content) && token.TryGetProperty("id", out var id) && id.TryGetInt32(out int value))
                        specials[content.GetString()!] = value;
        }
        if (tokenizer is SentencePieceTokenizer sentencepiece)
        {
            specials.TryAdd(sentencepiece.BeginningOfSentenceToken, sentencepiece.BeginningOfSentenceId);
            specials.TryAdd(sentencepiece.EndOfSentenceToken, sentencepiece.EndOfSentenceId);
        }
        using var config = JsonDocument.Parse(InputFile.ReadAllText(Path.Combine(folder, "config.json"), InputFile.JsonLimit));
        long[] bos = Ids(config.RootElement, "bos_token_id"), eos = Ids(config.RootElement, "eos_token_id");
        bool addBos = AddsBos(folder, sentencepiece: tokenizer is SentencePieceTokenizer);
        return new TokenEncoder(tokenizer, specials, addBos && bos.Length > 0 ? (int)bos[0] : null, eos.Length > 0 ? (int)eos[0] : null, eos);
    }

    /// <summary>config.json's token ids: a number, or a list (Llama 3.1 lists several eos ids).</summary>
    private static long[] Ids(JsonElement root, string field) =>
        !root.TryGetProperty(field, out var value) ? []
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int id) ? [id]
        : value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().Where(v => v.TryGetInt32(out _)).Select(v => (long)v.GetInt32()).ToArray()
        : [];

    /// <summary>
    /// Whether the tokenizer puts BOS first, as transformers does: tokenizer_config.json's add_bos_token, else the
    /// sentencepiece default (Llama's tokenizer adds it; Qwen's, GPT-2's and Phi-2's byte-level BPE do not).
    /// </summary>
    private static bool AddsBos(string folder, bool sentencepiece)
    {
        string path = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(path)) return sentencepiece;
        using var document = JsonDocument.Parse(InputFile.ReadAllText(path, InputFile.JsonLimit));
        return document.RootElement.TryGetProperty("add_bos_token", out var add) && add.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? add.GetBoolean() : sentencepiece;
    }

    /// <summary>
    /// The record's text tokenized whole, as transformers tokenizes a prompt with its completion or a whole conversation
    /// (a sentencepiece tokenizer's dummy prefix once, BPE merges across a boundary as at inference). A token is
    /// learned when the segment it starts in is: each boundary falls where the tokens of the text up to it stop agreeing
    /// with the whole's (TRL's prompt/completion rule, for any number of segments).
    /// </summary>
    public EncodedRecord Encode(TrainingRecord record)
    {
        var whole = Tokens(string.Concat(record.Segments.Select(s => s.Text))).ToArray();
        var ids = new List<long>(whole.Length + 2);
        var learned = new List<bool>(whole.Length + 2);
        if (!record.IsChat && Bos is { } bos) Add(bos, false);
        int start = 0;
        var prefix = new System.Text.StringBuilder();
        for (int k = 0; k < record.Segments.Count; k++)
        {
            prefix.Append(record.Segments[k].Text);
            int end = k == record.Segments.Count - 1 ? whole.Length : Math.Max(start, AgreeingPrefix(Tokens(prefix.ToString()), whole));
            for (int i = start; i < end; i++) Add(whole[i], record.Segments[k].Learned);
            start = end;
        }
        if (!record.IsChat && Eos is { } eos) Add(eos, record.Segments[^1].Learned);
        return new EncodedRecord(record, ids.ToArray(), learned.ToArray());

        void Add(long id, bool isLearned)
        {
            ids.Add(id);
            learned.Add(isLearned);
        }
    }

    /// <summary>How many leading tokens <paramref name="part"/> and <paramref name="whole"/> have in common.</summary>
    private static int AgreeingPrefix(IEnumerable<int> part, int[] whole)
    {
        int n = 0;
        foreach (int id in part)
        {
            if (n == whole.Length || whole[n] != id) break;
            n++;
        }
        return n;
    }

    /// <summary>The text of <paramref name="ids"/>, special tokens as their text.</summary>
    public string Decode(IEnumerable<long> ids) => _tokenizer.Decode(ids.Select(id => (int)id)) ?? "";

    /// <summary>The text's tokens, special tokens as their own ids and the rest through the tokenizer.</summary>
    public IEnumerable<int> Tokens(string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            var (at, special) = NextSpecial(text, start);
            if (at > start) foreach (int id in Plain(text[start..at])) yield return id;
            if (special is not { } s) yield break;
            yield return s.Id;
            start = at + s.Text.Length;
        }
    }

    private (int At, (string Text, int Id)? Special) NextSpecial(string text, int from)
    {
        int best = text.Length;
        (string Text, int Id)? found = null;
        foreach (var special in _specials)
        {
            int at = text.IndexOf(special.Text, from, StringComparison.Ordinal);
            if (at >= 0 && at < best) (best, found) = (at, special);
        }
        return (best, found);
    }

    private IReadOnlyList<int> Plain(string text) => _tokenizer is SentencePieceTokenizer sentencepiece
        ? sentencepiece.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)   // BOS is placed once, above
        : _tokenizer.EncodeToIds(text);
}
