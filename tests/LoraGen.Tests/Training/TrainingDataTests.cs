using System.Diagnostics;
using LoraGen.Checkpoints;
using LoraGen.Models.Data;
using LoraGen.Models.Tokenization;
using LoraGen.Planning;

namespace LoraGen.Tests.Training;

/// <summary>JSONL training data: its three shapes, the chat formats, special tokens, packing and padding, and bad input.</summary>
public sealed class TrainingDataTests() : TemporaryFolder("loragen-data-")
{
    private string Write(string name, string content)
    {
        string path = Path.Combine(Folder.FullName, name);
        File.WriteAllText(path, content);
        return path;
    }

    public static TheoryData<string, int, string> BadLines => new()
    {
        { "{\"text\": 3}", 1, "field 'text' must be a string; got number" },
        { "{\"prompt\": \"a\"}", 1, "missing field 'completion'" },
        { "{\"completion\": \"b\", \"prompt\": null}", 1, "field 'prompt' must be a string; got null" },
        { "{\"messages\": []}", 1, "field 'messages' must be a non-empty array" },
        { "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 1, "field 'messages' has no assistant turn to learn" },
        { "{\"messages\": [{\"role\": \"bot\", \"content\": \"hi\"}]}", 1, "field 'messages[0].role' must be system, user or assistant; got 'bot'" },
        { "{\"messages\": [{\"role\": \"assistant\"}]}", 1, "missing field 'messages[0].content'" },
        { "{\"text\": \"ok\"}\n\n{\"txt\": \"typo\"}", 3, "expected a field 'text', 'prompt' and 'completion', or 'messages'" },
        { "{\"text\": \"ok\"}\n[1, 2]", 2, "each line must be a JSON object" },
        { "{\"text\": \"ok\"}\n{\"text\": \"unterminated", 2, "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void A_bad_line_is_an_error_naming_the_file_the_line_and_the_field(string content, int line, string problem)
    {
        string path = Write("bad.jsonl", content);
        var error = Assert.Throws<DataException>(() => JsonlRecords.Read(path, ChatFormat.ChatMl));
        Assert.StartsWith($"{path}:{line}: ", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void An_empty_file_and_a_chat_without_a_known_format_are_refused_before_training()
    {
        string empty = Write("empty.jsonl", "\n  \n");
        Assert.Contains("no examples", Assert.Throws<DataException>(() => JsonlRecords.Read(empty, null)).Message);
        string chat = Write("chat.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}");
        Assert.Contains($"{chat}:1: field 'messages' needs the model's chat format", Assert.Throws<DataException>(() => JsonlRecords.Read(chat, null)).Message);
        var gpt2 = new ModelConfig("gpt2", ModelFamily.Gpt2, 8, 32, 1, 2, 2, 50, true, 16);
        Assert.Contains("no chat format is known for model_type 'gpt2'", Assert.Throws<DataException>(() => ChatFormat.For(gpt2)).Message);
    }

    [SkippableTheory]
    [InlineData("fifo", "is a FIFO (named pipe), not a regular file")]
    [InlineData("device", "is a device, not a regular file")]
    [InlineData("dangling", "which does not exist")]
    [InlineData("folder", "is a folder, not a file")]
    public void A_data_path_that_is_not_a_regular_file_is_refused_at_once(string kind, string message)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "file kinds are checked through Linux's statx");
        string path = Path.Combine(Folder.FullName, kind + ".jsonl");
        switch (kind)
        {
            case "fifo": using (var mkfifo = Process.Start("mkfifo", [path])) mkfifo.WaitForExit(); break;
            case "device": File.CreateSymbolicLink(path, "/dev/zero"); break;
            case "dangling": File.CreateSymbolicLink(path, path + ".missing"); break;
            default: Directory.CreateDirectory(path); break;
        }
        var read = Task.Run(() => JsonlRecords.Read(path, null));
        Assert.True(Task.WaitAny([read], TimeSpan.FromSeconds(10)) == 0, "no hang on a FIFO");
        var error = Assert.IsType<CheckpointException>(read.Exception?.InnerException);
        Assert.Contains(path, error.Message);
        Assert.Contains(message, error.Message);
    }

    private static string Rendered(ChatFormat format, bool learned) =>
        string.Concat(format.Render([new("system", "Be brief."), new("user", "2+2?"), new("assistant", "4")]).Where(s => s.Learned == learned).Select(s => s.Text));

    [Fact]
    public void Chats_are_laid_out_as_each_family_templates_them_and_only_assistant_turns_are_learned()
    {
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n\n", Rendered(ChatFormat.ChatMl, false));
        Assert.Equal("4<|im_end|>", Rendered(ChatFormat.ChatMl, true));
        Assert.Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            Rendered(ChatFormat.Llama3, false));
        Assert.Equal("4<|eot_id|>", Rendered(ChatFormat.Llama3, true));
        Assert.Equal("<bos><start_of_turn>user\nBe brief.\n\n2+2?<end_of_turn>\n<start_of_turn>model\n\n", Rendered(ChatFormat.Gemma, false));   // no system turn: folded
        Assert.Equal("4<end_of_turn>", Rendered(ChatFormat.Gemma, true));
        Assert.Equal("<|system|>\nBe brief.<|end|>\n<|user|>\n2+2?<|end|>\n<|assistant|>\n\n", Rendered(ChatFormat.Phi3, false));
        Assert.Equal("<s>[INST] Be brief.\n\n2+2? [/INST]", Rendered(ChatFormat.Instruct, false));
        Assert.Equal(" 4</s>", Rendered(ChatFormat.Instruct, true));
    }

    [Fact]
    public void Special_tokens_in_the_text_become_single_ids_and_the_rest_goes_through_the_tokenizer()
    {
        var gpt2 = TokenizerLoader.Gpt2();
        var encoder = new TokenEncoder(gpt2, new Dictionary<string, int> { ["<|im_start|>"] = 50300, ["<|im_end|>"] = 50301, ["<|im"] = 50302 }, bos: null, eos: 50256);
        var ids = encoder.Tokens("<|im_start|>user\nhello<|im_end|>").ToArray();
        int[] expected = [50300, .. gpt2.EncodeToIds("user\nhello"), 50301];                     // the longest special wins
        Assert.Equal(expected, ids);

        var record = new TrainingRecord("f.jsonl", 1, [new Segment("Q: hi", false), new Segment(" A: yo", true)]);
        var encoded = encoder.Encode(record);
        int prompt = gpt2.EncodeToIds("Q: hi").Count, completion = gpt2.EncodeToIds(" A: yo").Count;
        Assert.Equal(prompt + completion + 1, encoded.Ids.Length);
        Assert.Equal(50256, encoded.Ids[^1]);                                                     // EOS ends it, and is learned
        Assert.Equal(Enumerable.Repeat(false, prompt).Concat(Enumerable.Repeat(true, completion + 1)), encoded.Learned);
    }

    [Fact]
    public void A_record_is_tokenized_whole_so_a_word_split_between_prompt_and_completion_is_tokenized_as_at_inference()
    {
        var gpt2 = TokenizerLoader.Gpt2();
        var encoder = new TokenEncoder(gpt2, new Dictionary<string, int>(), bos: null, eos: 50256);
        var encoded = encoder.Encode(new TrainingRecord("f.jsonl", 1, [new Segment("hello wor", false), new Segment("ld", true)]));
        int[] whole = [.. gpt2.EncodeToIds("hello world")];                                        // "hello", " world": one token across the boundary
        Assert.Equal(whole.Select(id => (long)id).Append(50256), encoded.Ids);
        Assert.NotEqual(whole.Length, gpt2.EncodeToIds("hello wor").Count + gpt2.EncodeToIds("ld").Count);   // per segment it would differ
        int agreeing = gpt2.EncodeToIds("hello wor").Zip(whole).TakeWhile(p => p.First == p.Second).Count();
        Assert.Equal(Enumerable.Repeat(false, agreeing).Concat(Enumerable.Repeat(true, whole.Length - agreeing + 1)), encoded.Learned);   // from the straddling token on
    }

    [Fact]
    public void Packing_cuts_the_token_stream_and_padding_refuses_a_record_too_long_by_its_line()
    {
        var source = new TrainingRecord("data.jsonl", 7, [new Segment("x", true)]);
        var records = new[] { new EncodedRecord(source, [1, 2, 3, 4, 5], [false, true, true, true, true]), new EncodedRecord(source with { Line = 8 }, [6, 7, 8], [true, true, true]) };
        var packed = SequenceLayout.Pack(records, 3);
        Assert.Equal(2, packed.Count);                                                             // 8 tokens: two of 3, the rest dropped
        Assert.Equal([4L, 5, 6], packed[1].Ids);
        Assert.Equal([true, true, true], packed[1].Learned);
        Assert.Contains("8 tokens in all, fewer than one sequence of 9", Assert.Throws<DataException>(() => SequenceLayout.Pack(records, 9)).Message);

        var padded = SequenceLayout.Pad(records, 5, padId: 0);
        Assert.Equal([6L, 7, 8, 0, 0], padded[1].Ids);
        Assert.Equal([true, true, true, false, false], padded[1].Learned);
        var tooLong = Assert.Throws<DataException>(() => SequenceLayout.Pad(records, 4, padId: 0));
        Assert.StartsWith("data.jsonl:7: 5 tokens, more than the sequence length 4", tooLong.Message);
    }
}
