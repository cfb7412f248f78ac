using LoraGen.Tests.Models;

namespace LoraGen.Tests.Cli;

/// <summary>train → generate → merge on a tiny model of each Llama-layout family, as transformers lays out its folder.</summary>
[Collection(nameof(ConsoleOutput))]
public sealed class FamilyTrainTests() : TemporaryFolder("loragen-family-train-")
{
    /// <summary>Fifty characters, one token each: the families' tiny vocabulary.</summary>
    private const string Characters = "abcdefghijklmnopqrstuvwxyz0123456789 .,:;!?-+=()/*";

    [Theory]
    [MemberData(nameof(FamilyReferenceTests.Families), MemberType = typeof(FamilyReferenceTests))]
    public void A_folder_of_each_family_trains_generates_and_merges(string name)
    {
        string model = Directory.CreateDirectory(Path.Combine(Folder.FullName, "model")).FullName;
        foreach (var w in TinyHfFamily.All[name].Write(model, seed: 600).Values) w.Dispose();
        string vocab = string.Join(", ", Characters.Select((c, i) => $"\"{c}\": {i}"));
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "}, \"merges\": []}}");
        string data = Path.Combine(Folder.FullName, "train.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 12).Select(i => $"{{\"prompt\": \"{(char)('a' + i)}=\", \"completion\": \"{(char)('b' + i)}{(char)('c' + i)}\"}}"));
        string output = Path.Combine(Folder.FullName, "run");

        var train = CliRunner.Run("train", "--model", model, "--data", data, "--out", output, "--steps", "2", "--batch", "2", "--seq", "8", "--lr", "1e-2");
        Assert.True(train.Exit == 0, $"{name}: {train.Error}");
        var generate = CliRunner.Run("generate", "--model", model, "--adapter", Path.Combine(output, "adapter"), "--prompt", "c=", "--max-new-tokens", "3");
        Assert.True(generate.Exit == 0, $"{name}: {generate.Error}");
        Assert.StartsWith("c=", generate.Out);
        string merged = Path.Combine(Folder.FullName, "merged");
        var merge = CliRunner.Run("merge", "--model", model, "--adapter", Path.Combine(output, "adapter"), "--out", merged, "--dtype", "fp32");
        Assert.True(merge.Exit == 0, $"{name}: {merge.Error}");
        var fromMerged = CliRunner.Run("generate", "--model", merged, "--prompt", "c=", "--max-new-tokens", "3");
        Assert.Equal(generate.Out, fromMerged.Out);                                     // merged = base + adapter
    }
}
