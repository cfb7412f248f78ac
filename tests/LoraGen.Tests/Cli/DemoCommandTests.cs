using System.Text.Json;

namespace LoraGen.Tests.Cli;

/// <summary>
/// `loragen demo --quick`, the main job, run in-process: a base pretrained into a private cache, every method fine-tuned
/// and measured, the serving checks, and a report folder whose figures are the run's own.
/// </summary>
[Collection(nameof(ConsoleOutput))]
public sealed class DemoCommandTests() : TemporaryFolder("loragen-demo-")
{
    [Fact]
    public void The_quick_demo_teaches_the_base_a_new_skill_and_writes_its_report()
    {
        string cache = Path.Combine(Folder.FullName, "cache"), report = Path.Combine(Folder.FullName, "report");
        string? previousCache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        Environment.SetEnvironmentVariable("XDG_CACHE_HOME", cache);
        (int exit, string output, string error) run;
        try
        {
            run = CliRunner.Run("demo", "--quick", "--out", report, "--device", "cpu");
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", previousCache);
        }

        Assert.True(run.exit == 0, run.output + run.error);
        Assert.Contains("demo: OK", run.output);
        foreach (var row in new[] { "base (no fine-tuning)", "full", "LoRA r=1", "LoRA r=8", "DoRA r=8", "QLoRA r=8" })
            Assert.Contains(run.output.Split('\n'), line => line.Contains("│ " + row + " ", StringComparison.Ordinal));   // a table row, unwrapped
        foreach (var file in new[] { "report.md", "results.json", "loss-curves.png", "accuracy-vs-rank.png", "memory.png" })
            Assert.True(new FileInfo(Path.Combine(report, file)).Length > 0, file);

        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        var root = results.RootElement;
        double baseAccuracy = root.GetProperty("base_accuracy").GetProperty("pal").GetDouble();
        var methods = root.GetProperty("methods").EnumerateArray().ToDictionary(m => m.GetProperty("label").GetString()!);
        Assert.Equal(["full", "LoRA r=1", "LoRA r=8", "DoRA r=8", "QLoRA r=8"], methods.Keys);
        Assert.True(methods["LoRA r=8"].GetProperty("accuracy").GetDouble() > baseAccuracy);
        Assert.True(methods["full"].GetProperty("accuracy").GetDouble() > baseAccuracy);
        Assert.True(methods["LoRA r=1"].GetProperty("trainable_parameters").GetInt64() < methods["LoRA r=8"].GetProperty("trainable_parameters").GetInt64());
        var serving = root.GetProperty("serving");
        Assert.True(serving.GetProperty("merge_max_diff").GetDouble() <= 1e-4 * serving.GetProperty("logit_scale").GetDouble());
        Assert.Equal(0, serving.GetProperty("reload_max_diff").GetDouble());
        Assert.Equal(0, serving.GetProperty("merged_reload_max_diff").GetDouble());

        // The base and the adapter are ordinary HF and peft folders: `loragen generate` runs on them.
        string baseFolder = root.GetProperty("base").GetProperty("folder").GetString()!;
        Assert.StartsWith(cache, baseFolder);
        foreach (var file in new[] { "config.json", "tokenizer.json", "model.safetensors" }) Assert.True(File.Exists(Path.Combine(baseFolder, file)), file);
        string adapter = serving.GetProperty("adapter_folders")[0].GetString()!;
        var generated = CliRunner.Run("generate", "--model", baseFolder, "--adapter", adapter, "--prompt", "pal:abc>", "--max-new-tokens", "4");
        Assert.True(generated.Exit == 0, generated.Error);
        Assert.StartsWith("pal:abc>", generated.Out);

        // The merged model is a plain HF folder: generating from it alone gives what the base with the adapter gives.
        string merged = serving.GetProperty("merged_folder").GetString()!;
        Assert.StartsWith(report, Path.GetFullPath(merged));
        var fromMerged = CliRunner.Run("generate", "--model", merged, "--prompt", "pal:abc>", "--max-new-tokens", "4");
        Assert.True(fromMerged.Exit == 0, fromMerged.Error);
        Assert.Equal(generated.Out, fromMerged.Out);
    }
}
