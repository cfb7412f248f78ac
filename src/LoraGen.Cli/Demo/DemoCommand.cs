using System.Diagnostics;
using System.Globalization;
using LoraGen.Devices;
using LoraGen.Models.Data;
using LoraGen.Models.Loading;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>
/// `loragen demo`, the main job: a small Llama pretrained (or restored from the cache) on a synthetic language of
/// tasks, then taught a skill it cannot do by full fine-tuning, LoRA at several ranks, DoRA and QLoRA from the same
/// base with the same data and steps; each measured (peft's trainable line, memory, speed, eval loss, exact match by
/// greedy generation). Then the serving checks (merge, peft files reloaded, two adapters hot-swapped), the seed's
/// claims judged against the figures, and a report folder. Exit 0 when the mechanics hold, 1 otherwise.
/// </summary>
internal sealed class DemoCommand : Command<DemoSettings>
{
    public override int Execute(CommandContext context, DemoSettings settings, CancellationToken cancellation) => Run(settings.Options);

    private static int Run(DemoOptions options)
    {
        var clock = Stopwatch.StartNew();
        var device = ComputeDevice.Resolve(options.Device);
        var scale = options.Scale;
        HostMemory.FixMmapThreshold();     // once per training process: freed layer buffers go back to the OS
        Console.WriteLine($"LoraGen demo{(options.Quick ? " (--quick)" : "")} on {device.type} (libtorch {__version__})");

        var (trainWords, heldOutWords) = TaskLanguage.Words(scale.TrainWords, scale.HeldOutWords, options.Seed);
        var prepared = DemoBaseModel.Prepare(scale, options.Seed, trainWords, device);
        Console.WriteLine(prepared.Restored
            ? $"base restored from the cache: {prepared.Folder}"
            : Text($"base pretrained from random weights in {prepared.Seconds:F1} s ({scale.PretrainSteps} steps, loss {prepared.History[0].Loss:F3} -> {prepared.History[^1].Loss:F3}), cached: {prepared.Folder}"));
        var encoder = TokenEncoder.FromFolder(prepared.Folder);

        var baseAccuracy = new Dictionary<string, double>();
        using (var model = HfModels.Load(prepared.Folder))
        {
            model.to(device);
            foreach (var skill in DemoBaseModel.PretrainingSkills.Append(Skill.Palindrome).Append(Skill.Twice))
                baseAccuracy[skill.Name] = ExactMatch.Accuracy(model, encoder, skill, heldOutWords);
        }
        Console.WriteLine("base exact match on held-out prompts: " + string.Join(", ", baseAccuracy.Select(a => $"{a.Key} {DemoReport.Percent(a.Value)}")));

        var newSkill = SkillData.Create(Skill.Palindrome, encoder, trainWords, heldOutWords);
        var results = new List<FineTuneResult>();
        nn.Module<Tensor, Tensor>? servingModel = null;
        try
        {
            foreach (var method in FineTuneMethod.All(scale))
            {
                var (model, result) = FineTuning.Run(prepared.Folder, method, newSkill, encoder, scale, options.Seed, device);
                Console.WriteLine(Text($"{method.Label,-10} {result.TrainableLine}  {result.MillisecondsPerStep:F1} ms/step  eval loss {result.EvalLoss:F4}  exact match {DemoReport.Percent(result.Accuracy)}"));
                results.Add(result);
                if (method == FineTuneMethod.Lora(8)) servingModel = model;
                else model.Dispose();
            }

            var secondSkill = SkillData.Create(Skill.Twice, encoder, trainWords, heldOutWords);
            var (secondModel, secondResult) = FineTuning.Run(prepared.Folder, FineTuneMethod.Lora(8), secondSkill, encoder, scale, options.Seed, device);
            using (secondModel)
            {
                Console.WriteLine(Text($"second skill '{Skill.Twice.Name}' for the hot-swap check: LoRA r=8, exact match {DemoReport.Percent(secondResult.Accuracy)}"));
                var serving = ServingChecks.Run(prepared.Folder, (servingModel!, newSkill), (secondModel, secondSkill), encoder, options.Output, device);
                var lora8 = results.Single(r => r.Label == FineTuneMethod.Lora(8).Label);
                var demo = new DemoResults(device.type.ToString(), options.Seed, options.Quick, scale, prepared, baseAccuracy, results, serving,
                    DemoClaims.Judge(results), Mechanics(serving, lora8, baseAccuracy[Skill.Palindrome.Name]), clock.Elapsed.TotalSeconds);
                DemoReport.PrintTable(demo);
                Print(demo);
                DemoReport.Write(options.Output, demo);
                Console.WriteLine(Text($"report: {Path.GetFullPath(Path.Combine(options.Output, DemoReport.Markdown))} (and {DemoReport.Json}, plots, adapters); {clock.Elapsed.TotalSeconds:F0} s in all"));
                Console.WriteLine(demo.Ok ? "demo: OK" : "demo: FAILED: " + string.Join("; ", demo.Mechanics.Where(m => !m.Held).Select(m => $"{m.Statement} ({m.Evidence})")));
                return demo.Ok ? 0 : 1;
            }
        }
        finally
        {
            servingModel?.Dispose();
        }
    }

    /// <summary>What must hold for the run to count: a merge that changes nothing, peft files and a merged folder that reload exactly, a skill actually learned.</summary>
    private static IReadOnlyList<Claim> Mechanics(ServingResult serving, FineTuneResult lora8, double baseAccuracy) =>
    [
        // The merge rounds W + s·B·A once in fp32; through four layers that moves the logits by about 1e-5 of their
        // scale (measured up to 1.1e-5); a wrong merge moves them by a whole fraction.
        new("merged = unmerged", serving.MergeMaxDiff <= 1e-4 * serving.LogitScale,
            Text($"max |diff| {serving.MergeMaxDiff:E2}, at most 1e-4 of the largest logit ({serving.LogitScale:F1}): fp32 rounding")),
        new("the peft files reload exactly", serving.ReloadMaxDiff == 0, Text($"max |diff| {serving.ReloadMaxDiff:E2}")),
        new("the merged model's folder reloads exactly", serving.MergedReloadMaxDiff == 0, Text($"max |diff| {serving.MergedReloadMaxDiff:E2}")),
        new("LoRA r=8 learned the new skill", lora8.Accuracy >= baseAccuracy + 0.5,
            Text($"exact match {DemoReport.Percent(lora8.Accuracy)} vs the base's {DemoReport.Percent(baseAccuracy)} (at least 50 points above)")),
    ];

    private static void Print(DemoResults demo)
    {
        var s = demo.Serving;
        Console.WriteLine(Text($"merge: max |merged - unmerged| = {s.MergeMaxDiff:E2}; forward {s.MergedForwardMs:F2} ms merged vs {s.UnmergedForwardMs:F2} ms unmerged"));
        Console.WriteLine(Text($"merged model written as a Hugging Face folder ({s.MergedFolder}) and loaded as a plain model: max |diff| = {s.MergedReloadMaxDiff:E2}"));
        Console.WriteLine(Text($"adapter saved in peft's format ({s.AdapterBytes:N0} bytes) and loaded into a fresh base: max |diff| = {s.ReloadMaxDiff:E2}"));
        Console.WriteLine(Text($"two adapters on one base, swapped in {s.SwapMilliseconds:F3} ms: {Skill.Palindrome.Name} {DemoReport.Percent(s.FirstSkillAccuracy)}, {Skill.Twice.Name} {DemoReport.Percent(s.SecondSkillAccuracy)}"));
        foreach (var sample in s.Samples) Console.WriteLine($"  {sample.Prompt,-14} expected {sample.Expected,-7} before {sample.Before,-8} after {sample.After}");
        foreach (var claim in demo.Claims) Console.WriteLine($"claim {(claim.Held ? "held" : "did NOT hold")}: {claim.Statement}: {claim.Evidence}");
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
