using System.Diagnostics;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>
/// A save killed at any moment (SIGKILL of a child process that saves in a loop) leaves a folder whose config
/// and weights come from the same save, and the next save removes what the killed one left behind.
/// </summary>
public sealed class AtomicSaveTests(ITestOutputHelper output) : TemporaryFolder("loragen-atomic-save-")
{
        [SkippableFact]
    public void A_save_killed_at_random_points_always_leaves_a_consistent_folder_and_no_leftovers_after_the_next_save()
    {
        Skip.IfNot(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS(), "kills with SIGKILL");
        string adapter = Path.Combine(Folder.FullName, "adapter");
        var random = new Random(5);
        int insideSave = 0;
        for (int round = 0; round < 20; round++)
        {
            using var child = Process.Start(TestHost.StartInfo("save-loop", adapter))!;
            string? line;
            do line = child.StandardOutput.ReadLine(); while (line is not null && line != "ready");
            if (line != "ready") Assert.Fail("the child did not start: " + child.StandardError.ReadToEnd());
            Thread.Sleep(random.Next(20, 400));
            child.Kill();                                          // SIGKILL: no cleanup runs
            Assert.True(child.WaitForExit(30_000), "the child did not die");
            if (AtomicFolder.Leftovers(Folder.FullName, "adapter").Any()) insideSave++;      // killed between staging and swap
            if (Directory.Exists(adapter)) AssertOneSave(adapter);
        }
        output.WriteLine($"20 kills, {insideSave} of them inside a save (a staging folder was left behind)");
        Assert.True(Directory.Exists(adapter), "no save ever completed");

        using var model = TestHostModels.Large();
        model.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.Names("q_proj") });
        PeftAdapter.Save(model, adapter);
        Assert.Empty(AtomicFolder.Leftovers(Folder.FullName, "adapter"));
        Assert.Equal(["adapter"], Directory.EnumerateFileSystemEntries(Folder.FullName).Select(Path.GetFileName));
        Assert.Equal([PeftAdapter.ConfigFile, PeftAdapter.WeightsFile], Directory.EnumerateFiles(adapter).Select(Path.GetFileName).Order());
    }

    /// <summary>The config says save i (base_model_name_or_path "save-i", r = 4 or 8 by parity) and every B entry is i.</summary>
    private static void AssertOneSave(string adapter)
    {
        var config = AdapterConfigFile.Read(Path.Combine(adapter, PeftAdapter.ConfigFile));
        int save = int.Parse(config.BaseModelNameOrPath!["save-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(save % 2 == 0 ? 4 : 8, config.R);
        using var model = TestHostModels.Large();
        var layers = PeftAdapter.Load(model, adapter);
        foreach (var layer in layers)
        {
            var b = layer.Adapter("default").B.weight;
            Assert.True(b.eq(save).all().item<bool>(), $"{layer.GetName()}: weights are not those of save {save}");
        }
    }
}

/// <summary>The models the test host builds, built the same way here.</summary>
internal static class TestHostModels
{
    public static LoraGen.Models.Llama.LlamaForCausalLM Large() => SmallLlama.Build(SmallLlama.Large);
}
