using System.Diagnostics;
using LoraGen.Adapters;
using LoraGen.Devices;
using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Training;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// Training a small Llama (6 layers of 256, 4k vocabulary, 256-token sequences) with the library's Trainer: tokens/s
/// of LoRA r=8 against full fine-tuning, and gradient checkpointing's peak memory and time against none, each variant
/// in a process of its own so its peak resident memory (VmHWM) is its own.
/// </summary>
internal static class TrainingBenchmark
{
    private static readonly ModelConfig Config = new("llama", ModelFamily.Llama, 256, 704, 6, 8, 4, 4096, false);
    private const int Batch = 8, Sequence = 256;

    public static void Run(bool quick)
    {
        int steps = quick ? 3 : 8;
        var results = new[] { ("full", false), ("lora", false), ("lora", true) }
            .Select(v => (Variant: v, Values: ChildProcess.Run("training-child", v.Item1, v.Item2 ? "checkpointed" : "plain", steps.ToString(System.Globalization.CultureInfo.InvariantCulture))))
            .ToArray();
        double TokensPerSecond(int i) => double.Parse(results[i].Values["tokens_per_second"], System.Globalization.CultureInfo.InvariantCulture);
        long Peak(int i) => ChildProcess.Long(results[i].Values, "VmHWM_KB");
        double Ms(int i) => double.Parse(results[i].Values["ms_per_step"], System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine(SideBySide.Format($"training a {Config.Layers}-layer Llama (hidden {Config.HiddenSize}, vocab {Config.VocabSize}), batch {Batch} x {Sequence} tokens, {steps} steps after a warm-up, one process each:"));
        Console.WriteLine(SideBySide.Format($"  full fine-tuning {TokensPerSecond(0):F0} tok/s, {Peak(0) / 1024.0:F0} MB peak | LoRA r=8 {TokensPerSecond(1):F0} tok/s, {Peak(1) / 1024.0:F0} MB peak | LoRA/full speed {TokensPerSecond(1) / TokensPerSecond(0):F2}x"));
        Console.WriteLine(SideBySide.Format($"  LoRA with gradient checkpointing {Peak(2) / 1024.0:F0} MB peak, {Ms(2):F0} ms/step | peak memory checkpointed/plain {(double)Peak(2) / Peak(1):F3} | time {Ms(2) / Ms(1):F2}x"));
    }

    /// <summary>The child: one warm-up step, then <paramref name="steps"/> timed ones; prints tokens/s, ms/step and VmHWM.</summary>
    public static int RunChild(string method, bool checkpointed, int steps)
    {
        HostMemory.FixMmapThreshold();
        manual_seed(1);
        using var model = new LlamaForCausalLM(Config);
        if (method == "lora") ModelAdapters.Apply(model, new PeftLoraConfig { R = 8, LoraAlpha = 16, TargetModules = ModuleSelector.AllLinear });
        if (checkpointed) GradientCheckpointing.Enable(model);
        var random = new Random(2);
        var examples = Enumerable.Range(0, Batch * (steps + 1)).Select(_ =>
            new TrainingExample(Enumerable.Range(0, Sequence).Select(_ => (long)random.Next(Config.VocabSize)).ToArray(), Enumerable.Repeat(true, Sequence).ToArray())).ToList();
        var options = new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Constant, 1e-4, 0, steps + 1));
        using var trainer = new Trainer(model, model.forward, new ShuffledBatches(examples, Batch, 3), options);
        var clock = new Stopwatch();
        long tokens = 0;
        trainer.Run(report: r =>
        {
            if (r.Step == 1) clock.Start();                                         // the first step warms up
            else tokens += r.Tokens;
        });
        clock.Stop();
        Console.WriteLine(SideBySide.Format($"tokens_per_second={tokens / clock.Elapsed.TotalSeconds:F1}"));
        Console.WriteLine(SideBySide.Format($"ms_per_step={clock.Elapsed.TotalMilliseconds / steps:F1}"));
        Console.WriteLine("VmHWM_KB=" + HostMemory.StatusBytes("VmHWM") / 1024);
        return 0;
    }
}
