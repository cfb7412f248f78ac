using LoraGen.Checkpoints;
using LoraGen.Tests.Adapters;

namespace LoraGen.Tests.Cli;

/// <summary>`loragen train` on a tiny Llama folder: a run with evaluation and checkpoints, exact resume, and bad input.</summary>
[Collection(nameof(ConsoleOutput))]
public sealed class TrainCommandTests() : TemporaryFolder("loragen-train-")
{
    /// <summary>Prompt–completion lines of a toy skill: a letter's next three letters.</summary>
    private string Data(string name, int lines, int seed)
    {
        var random = new Random(seed);
        string path = Path.Combine(Folder.FullName, name);
        File.WriteAllLines(path, Enumerable.Range(0, lines).Select(_ =>
        {
            int start = random.Next(20);
            return $"{{\"prompt\": \"{TinyModelFolder.Letters[start]}\", \"completion\": \"{TinyModelFolder.Letters.Substring(start + 1, 3)}\"}}";
        }));
        return path;
    }

    private static string[] Train(string model, string data, string output, params string[] more) =>
        ["train", "--model", model, "--data", data, "--out", output, "--batch", "2", "--seq", "8", "--steps", "4", "--lr", "1e-2", "--seed", "3", .. more];

    [Fact]
    public void A_run_writes_checkpoints_metrics_and_a_peft_adapter_that_generate_uses()
    {
        var (model, _) = TinyModelFolder.Write(Folder.FullName);
        string output = Path.Combine(Folder.FullName, "run");
        var (exit, stdout, error) = CliRunner.Run(Train(model, Data("train.jsonl", 40, 1), output, "--eval", Data("eval.jsonl", 8, 2), "--save-every", "2"));
        Assert.True(exit == 0, error);
        Assert.Contains("trainable params: ", stdout);                                  // peft's line
        Assert.Contains("eval loss", stdout);
        Assert.True(Directory.Exists(Path.Combine(output, "checkpoint-2")));
        Assert.True(Directory.Exists(Path.Combine(output, "checkpoint-4")));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(output, "metrics.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(output, "adapter", "adapter_config.json")));
        byte[] png = File.ReadAllBytes(Path.Combine(output, "loss.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);                 // a PNG image
        Assert.True(png.Length > 2000, $"loss.png is {png.Length} bytes");
        var (generated, text, generateError) = CliRunner.Run("generate", "--model", model, "--adapter", Path.Combine(output, "adapter"), "--prompt", "c", "--max-new-tokens", "3");
        Assert.True(generated == 0, generateError);
        Assert.StartsWith("c", text);
    }

    [Fact]
    public void Resuming_from_a_checkpoint_gives_the_bitwise_adapter_of_the_run_without_a_stop()
    {
        var (model, _) = TinyModelFolder.Write(Folder.FullName);
        string data = Data("train.jsonl", 40, 4);
        string straight = Path.Combine(Folder.FullName, "straight"), first = Path.Combine(Folder.FullName, "first"), resumed = Path.Combine(Folder.FullName, "resumed");
        Assert.Equal(0, CliRunner.Run(Train(model, data, straight)).Exit);
        Assert.Equal(0, CliRunner.Run(Train(model, data, first, "--save-every", "2")).Exit);
        var (exit, _, error) = CliRunner.Run(Train(model, data, resumed, "--resume", Path.Combine(first, "checkpoint-2")));
        Assert.True(exit == 0, error);

        using var expected = SafetensorsFile.Open(Path.Combine(straight, "adapter", "adapter_model.safetensors"));
        using var actual = SafetensorsFile.Open(Path.Combine(resumed, "adapter", "adapter_model.safetensors"));
        Assert.Equal(expected.Entries.Select(e => e.Name).Order(), actual.Entries.Select(e => e.Name).Order());
        foreach (var entry in expected.Entries)
        {
            using var a = expected.Read(entry.Name);
            using var b = actual.Read(entry.Name);
            TensorAssert.BitwiseEqual(a, b);
        }
    }

    public static TheoryData<string, string> BadInput => new()
    {
        { "bad line", "train.jsonl:2: missing field 'completion'" },
        { "empty", "train.jsonl: no examples" },
        { "too long", "--seq 128 is longer than the model's context (64 positions)" },
        { "no tokenizer", "no tokenizer.model, tokenizer.json or *.tiktoken" },
        { "bad method", "--method must be lora, dora, qlora or full; got 'lorax'" },
        { "adapter", "train starts a new adapter; --resume DIR continues a run" },
    };

    [Theory]
    [MemberData(nameof(BadInput))]
    public void Bad_input_is_refused_before_the_first_step_with_one_line(string kind, string message)
    {
        var (model, adapter) = TinyModelFolder.Write(Folder.FullName);
        string data = Path.Combine(Folder.FullName, "train.jsonl");
        File.WriteAllText(data, kind switch
        {
            "bad line" => "{\"prompt\": \"a\", \"completion\": \"bcd\"}\n{\"prompt\": \"b\"}\n",
            "empty" => "\n",
            _ => string.Concat(Enumerable.Repeat("{\"prompt\": \"a\", \"completion\": \"bcd\"}\n", 20)),
        });
        if (kind == "no tokenizer") File.Delete(Path.Combine(model, "tokenizer.json"));
        string[] args = kind switch
        {
            "too long" => ["train", "--model", model, "--data", data, "--seq", "128"],
            "bad method" => ["train", "--model", model, "--data", data, "--method", "lorax"],
            "adapter" => ["train", "--model", model, "--data", data, "--adapter", adapter],
            _ => ["train", "--model", model, "--data", data, "--seq", "8"],
        };
        (int exit, string output, string error) = Bounded.Run(() => CliRunner.Run([.. args, "--out", Path.Combine(Folder.FullName, "out")]));
        Assert.Equal(2, exit);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(Directory.Exists(Path.Combine(Folder.FullName, "out", "checkpoint-1")));
    }
}
