using System.Diagnostics;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Data;
using LoraGen.Models.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>A held-out prompt, its answer, and the greedy completions before fine-tuning and with the skill's adapter.</summary>
internal sealed record Sample(string Skill, string Prompt, string Expected, string Before, string After);

/// <summary>What the serving checks measured.</summary>
/// <param name="MergeMaxDiff">max |merged − unmerged| over the logits of a held-out batch.</param>
/// <param name="LogitScale">max |unmerged logit| of that batch: fp32 rounding of a merge is relative to it.</param>
/// <param name="MergedFolder">The merged model, written as a plain Hugging Face folder (`loragen merge`'s output).</param>
/// <param name="MergedReloadMaxDiff">max |that folder loaded as a plain model − the merged model in memory| (fp32: exact).</param>
/// <param name="ReloadMaxDiff">max |reloaded − trained| after a save in peft's format and a load into a fresh base.</param>
/// <param name="SwapMilliseconds">One SetActiveAdapters between the two skills' adapters, averaged over many swaps.</param>
internal sealed record ServingResult(
    double MergeMaxDiff, double LogitScale, double UnmergedForwardMs, double MergedForwardMs, string MergedFolder, double MergedReloadMaxDiff,
    IReadOnlyList<string> AdapterFolders, long AdapterBytes,
    double ReloadMaxDiff, double SwapMilliseconds, double FirstSkillAccuracy, double SecondSkillAccuracy, IReadOnlyList<Sample> Samples);

/// <summary>
/// The serving side of the seed's claims, on two LoRA models fine-tuned from the same base on two skills: merge
/// (same outputs, no added latency), peft files that reload exactly, and both adapters on one base, hot-swapped.
/// </summary>
internal static class ServingChecks
{
    private const int TimedForwards = 20, TimedSwaps = 200, SamplesPerSkill = 3;

    public static ServingResult Run(string baseFolder, (nn.Module<Tensor, Tensor> Model, SkillData Data) first, (nn.Module<Tensor, Tensor> Model, SkillData Data) second,
        TokenEncoder encoder, string outFolder, Device device)
    {
        using var probe = tensor(first.Data.HeldOut.Take(DemoScale.Batch).SelectMany(e => e.Ids).ToArray(),
            [Math.Min(DemoScale.Batch, first.Data.HeldOut.Count), TaskLanguage.SequenceLength]).to(device);   // (batch, seq)
        var model = first.Model;
        model.eval();
        using var unmerged = Logits(model, probe);
        double unmergedMs = ForwardMilliseconds(model, probe);
        ModelAdapters.Merge(model, safe: true);
        using var merged = Logits(model, probe);
        double mergedMs = ForwardMilliseconds(model, probe);
        string mergedFolder = Path.Combine(outFolder, "merged", $"{first.Data.Skill.Name}-lora-r8");
        HfModels.SaveFolder(model, baseFolder, mergedFolder, ScalarType.Float32);          // what `loragen merge` writes
        ModelAdapters.Unmerge(model);
        double mergeDiff = MaxDiff(merged, unmerged);
        double mergedReloadDiff;
        using (var plain = HfModels.Load(mergedFolder))
        {
            plain.to(device);
            plain.eval();
            using var reread = Logits(plain, probe);
            mergedReloadDiff = MaxDiff(reread, merged);
        }

        var folders = new[] { first, second }.Select(run =>
        {
            string folder = Path.Combine(outFolder, "adapters", $"{run.Data.Skill.Name}-lora-r8");
            PeftAdapter.Save(run.Model, folder, baseModel: baseFolder);
            return folder;
        }).ToArray();
        long adapterBytes = new FileInfo(Path.Combine(folders[0], PeftAdapter.WeightsFile)).Length;

        using var served = HfModels.Load(baseFolder);
        served.to(device);
        PeftAdapter.Load(served, folders[0], first.Data.Skill.Name);
        PeftAdapter.Load(served, folders[1], second.Data.Skill.Name);
        ModelAdapters.SetActiveAdapters(served, first.Data.Skill.Name);
        served.eval();
        using var reloaded = Logits(served, probe);
        double reloadDiff = MaxDiff(reloaded, unmerged);

        var samples = new List<Sample>();
        double firstAccuracy = Serve(served, first.Data, encoder, samples);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < TimedSwaps; i++)
            ModelAdapters.SetActiveAdapters(served, (i % 2 == 0 ? second : first).Data.Skill.Name);
        double swapMs = clock.Elapsed.TotalMilliseconds / TimedSwaps;
        ModelAdapters.SetActiveAdapters(served, second.Data.Skill.Name);
        double secondAccuracy = Serve(served, second.Data, encoder, samples);
        return new ServingResult(mergeDiff, LogitScale(unmerged), unmergedMs, mergedMs, mergedFolder, mergedReloadDiff, folders, adapterBytes, reloadDiff, swapMs, firstAccuracy, secondAccuracy, samples);
    }

    /// <summary>The active adapter's accuracy on its skill, and a few samples before (adapters off) and after.</summary>
    private static double Serve(nn.Module served, SkillData data, TokenEncoder encoder, List<Sample> samples)
    {
        foreach (var word in data.HeldOutWords.Take(SamplesPerSkill))
        {
            string prompt = data.Skill.Prompt(word), before;
            using (ModelAdapters.DisableAdapters(served)) before = ExactMatch.Complete(served, encoder, prompt);
            samples.Add(new Sample(data.Skill.Name, prompt, data.Skill.Apply(word), before, ExactMatch.Complete(served, encoder, prompt)));
        }
        return ExactMatch.Accuracy(served, encoder, data.Skill, data.HeldOutWords);
    }

    private static Tensor Logits(nn.Module<Tensor, Tensor> model, Tensor ids)
    {
        using var _ = no_grad();
        return model.forward(ids);                                                   // (batch, seq, vocab)
    }

    private static double MaxDiff(Tensor a, Tensor b)
    {
        using var difference = (a - b).abs().max();
        return difference.item<float>();
    }

    private static double LogitScale(Tensor logits)
    {
        using var largest = logits.abs().max();
        return largest.item<float>();
    }

    private static double ForwardMilliseconds(nn.Module<Tensor, Tensor> model, Tensor ids)
    {
        for (int i = 0; i < 2; i++) Logits(model, ids).Dispose();                   // warm-up
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < TimedForwards; i++) Logits(model, ids).Dispose();
        return clock.Elapsed.TotalMilliseconds / TimedForwards;
    }
}
