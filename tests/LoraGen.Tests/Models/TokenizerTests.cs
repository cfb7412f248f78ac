using System.Text;
using LoraGen.Models.Tokenization;

namespace LoraGen.Tests.Models;

public sealed class TokenizerTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-tok-");

    public void Dispose() => _folder.Delete(recursive: true);

    [Fact]
    public void The_built_in_GPT2_tokenizer_gives_GPT2s_ids()
    {
        var tokenizer = TokenizerLoader.Gpt2();
        Assert.Equal([15496, 995], tokenizer.EncodeToIds("Hello world"));                // GPT-2's published ids
        Assert.Equal("Hello world", tokenizer.Decode([15496, 995]));
    }

    [Fact]
    public void A_byte_level_tokenizer_json_merges_as_its_merges_say()
    {
        File.WriteAllText(Path.Combine(_folder.FullName, "tokenizer.json"), """
            {"model": {"type": "BPE",
              "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "w": 4, "r": 5, "d": 6, "Ġ": 7, "he": 8, "ll": 9, "hell": 10,
                        "hello": 11, "Ġw": 12, "or": 13, "Ġwor": 14, "ld": 15, "Ġworld": 16, "<|endoftext|>": 17},
              "merges": ["h e", "l l", "he ll", "hell o", "Ġ w", ["o", "r"], "Ġw or", "l d", "Ġwor ld"]},
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}}
            """);
        var tokenizer = TokenizerLoader.FromFolder(_folder.FullName);
        Assert.Equal([11, 16], tokenizer.EncodeToIds("hello world"));
        Assert.Equal([8, 2], tokenizer.EncodeToIds("hel"));                              // "he" + "l": no merge for "he l"
    }

    [Fact]
    public void A_tiktoken_vocabulary_file_is_read()
    {
        string Token(string text, int rank) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text)) + " " + rank;
        File.WriteAllLines(Path.Combine(_folder.FullName, "vocab.tiktoken"), [Token("hello", 0), Token(" world", 1), Token("!", 2)]);
        var tokenizer = TokenizerLoader.FromFolder(_folder.FullName);
        Assert.Equal([0, 1, 2], tokenizer.EncodeToIds("hello world!"));
    }

    [Fact]
    public void A_sentencepiece_BPE_model_merges_by_score()
    {
        File.WriteAllBytes(Path.Combine(_folder.FullName, "tokenizer.model"), SentencePieceModel(
        [
            ("<unk>", 0f, 2), ("<s>", 0f, 3), ("</s>", 0f, 3), ("▁", -1f, 1), ("a", -2f, 1), ("b", -3f, 1),
            ("▁a", -0.5f, 1), ("ab", -0.6f, 1), ("▁ab", -0.1f, 1),
        ]));
        var tokenizer = TokenizerLoader.FromFolder(_folder.FullName);
        // "ab a" → "▁ab▁a"; best pair ▁a (−0.5) at both places, then ▁a+b = ▁ab (−0.1): BOS, ▁ab, ▁a.
        Assert.Equal([1, 8, 6], tokenizer.EncodeToIds("ab a"));
    }

    [Fact]
    public void A_folder_without_a_tokenizer_is_named()
    {
        var error = Assert.Throws<LoraGen.Checkpoints.CheckpointException>(() => TokenizerLoader.FromFolder(_folder.FullName));
        Assert.Contains("no tokenizer.model, tokenizer.json or *.tiktoken", error.Message);
    }

    /// <summary>A sentencepiece ModelProto written field by field: pieces (1), trainer_spec (2: BPE), normalizer_spec (3).</summary>
    private static byte[] SentencePieceModel((string Piece, float Score, int Type)[] pieces)
    {
        var model = new MemoryStream();
        foreach (var (piece, score, type) in pieces)
        {
            var entry = new MemoryStream();
            Bytes(entry, 1, Encoding.UTF8.GetBytes(piece));
            Tag(entry, 2, 5);
            entry.Write(BitConverter.GetBytes(score));
            Varint(entry, 3, type);
            Bytes(model, 1, entry.ToArray());
        }
        var trainer = new MemoryStream();
        Varint(trainer, 3, 2);                  // model_type = BPE
        Varint(trainer, 40, 0);                 // unk_id
        Varint(trainer, 41, 1);                 // bos_id
        Varint(trainer, 42, 2);                 // eos_id
        Bytes(model, 2, trainer.ToArray());
        var normalizer = new MemoryStream();
        Bytes(normalizer, 1, Encoding.UTF8.GetBytes("identity"));
        Varint(normalizer, 3, 1);               // add_dummy_prefix
        Varint(normalizer, 4, 1);               // remove_extra_whitespaces
        Varint(normalizer, 5, 1);               // escape_whitespaces
        Bytes(model, 3, normalizer.ToArray());
        return model.ToArray();

        static void Tag(Stream s, int field, int wire) => WriteVarint(s, (ulong)(field << 3 | wire));
        static void Varint(Stream s, int field, long value) { Tag(s, field, 0); WriteVarint(s, (ulong)value); }
        static void Bytes(Stream s, int field, byte[] value) { Tag(s, field, 2); WriteVarint(s, (ulong)value.Length); s.Write(value); }
        static void WriteVarint(Stream s, ulong value)
        {
            while (value >= 0x80) { s.WriteByte((byte)(value | 0x80)); value >>= 7; }
            s.WriteByte((byte)value);
        }
    }
}
