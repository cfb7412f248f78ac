using LoraGen.Tests.Adapters;
using LoraGen.Checkpoints;

namespace LoraGen.Tests.Cli;

/// <summary>`loragen generate` and `loragen merge` on a tiny Llama folder with its own tokenizer.json and a peft adapter.</summary>
[Collection(nameof(ConsoleOutput))]
public sealed class GenerateMergeTests() : TemporaryFolder("loragen-cli-")
{
    private (string Model, string Adapter) Folders() => TinyModelFolder.Write(Folder.FullName);

    [Fact]
    public void Generate_streams_the_adapted_models_greedy_text_and_merge_writes_a_folder_that_generates_the_same()
    {
        var (model, adapter) = Folders();
        var (exit, adapted, error) = CliRunner.Run("generate", "--model", model, "--adapter", adapter, "--prompt", "abc", "--max-new-tokens", "6");
        Assert.True(exit == 0, error);
        Assert.StartsWith("abc", adapted);
        Assert.Equal(3 + 6, adapted.TrimEnd().Length);                                   // one letter per token
        var (_, plain, _) = CliRunner.Run("generate", "--model", model, "--prompt", "abc", "--max-new-tokens", "6");
        Assert.NotEqual(plain, adapted);                                                  // the adapter changes the text

        string merged = Path.Combine(Folder.FullName, "merged");
        Directory.CreateDirectory(merged);
        File.WriteAllText(Path.Combine(merged, "model-00001-of-00002.safetensors"), "an earlier export's shard");   // must not survive
        var (mergeExit, _, mergeError) = CliRunner.Run("merge", "--model", model, "--adapter", adapter, "--out", merged, "--dtype=fp32");
        Assert.True(mergeExit == 0, mergeError);
        Assert.True(File.Exists(Path.Combine(merged, "tokenizer.json")));
        Assert.False(File.Exists(Path.Combine(merged, "model-00001-of-00002.safetensors")));    // the folder is replaced whole
        Assert.True(File.Exists(Path.Combine(merged, "config.json")));
        using (var file = SafetensorsFile.Open(Path.Combine(merged, "model.safetensors")))
            Assert.DoesNotContain(file.Entries, e => e.Name.Contains("lora_"));
        var (_, fromMerged, _) = CliRunner.Run("generate", "--model", merged, "--prompt", "abc", "--max-new-tokens", "6");
        Assert.Equal(adapted, fromMerged);
    }

    public static TheoryData<string[], string> Mistakes => new()
    {
        { ["generate", "--model", "/nonexistent/model", "--prompt", "a"], "--model: '/nonexistent/model' is not a folder" },
        { ["generate", "--prompt", "a"], "--model DIR is required" },
        { ["generate", "--model", "."], "--prompt TEXT is required" },
        { ["generate", "--model", ".", "--prompt", "a", "--top-p", "2"], "--top-p must be in (0, 1]; got 2" },
        { ["generate", "--model", ".", "--prompt", "a", "--temperature=-1"], "--temperature must be finite and not negative; got -1" },
        { ["merge", "--model", ".", "--out", "x"], "--adapter DIR is required" },
        { ["merge", "--model", ".", "--adapter", ".", "--out", "x", "--dtype", "int8"], "--dtype must be bf16, fp16 or fp32; got 'int8'" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void Mistakes_exit_2_with_one_line(string[] args, string message)
    {
        (int exit, string output, string error) = Bounded.Run(() => CliRunner.Run(args));
        Assert.Equal(2, exit);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(output);
    }
}
