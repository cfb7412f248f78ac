using System.Diagnostics;
using System.Globalization;
using LoraGen.Adapters;
using LoraGen.Cli.Demo;
using LoraGen.Devices;
using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Training;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// Training with the library's Trainer, each variant in a process of its own so its peak resident memory (VmHWM) is
/// its own: tokens/s of LoRA r=8 against full fine-tuning on the demo's base (its config, batch and sequence length),
/// and gradient checkpointing's peak memory and time against none on a deeper model with long sequences, where
/// activations are what checkpointing saves (the demo's 27-token sequences hold too few to show it).
/// </summary>
internal static class TrainingBenchmark
{
    private sealed record Shape(string Name, ModelConfig Config, int Batch, int Sequence);

    private static readonly Shape[] Shapes =
    [
        new("demo", ModelConfigReader.FromJson(DemoBaseModel.Config(DemoScale.Full)), DemoScale.Batch, TaskLanguage.SequenceLength),
        new("deep", new ModelConfig("llama", ModelFamily.Llama, 256, 704, 6, 8, 4, 4096, false), 8, 256),
    ];

    public static void Run(bool quick)
    {
        int steps = quick ? 3 : 10;
        var variants = new[] { ("demo", "full", false), ("demo", "lora", false), ("deep", "lora", false), ("deep", "lora", true) };
        var results = variants.Select(v => ChildProcess.Run("training-child", v.Item1, v.Item2, v.Item3 ? "checkpointed" : "plain", steps.ToString(CultureInfo.InvariantCulture))).ToArray();
        double Number(int i, string key) => double.Parse(results[i][key], CultureInfo.InvariantCulture);
        long Peak(int i) => ChildProcess.Long(results[i], "VmHWM_KB");
        var (demo, deep) = (Shapes[0], Shapes[1]);
        Console.WriteLine(SideBySide.Format($"the demo's base ({demo.Config.Layers} layers of {demo.Config.HiddenSize}), batch {demo.Batch} x {demo.Sequence} tokens, {steps} steps after a warm-up:"));
        Console.WriteLine(SideBySide.Format($"  full fine-tuning {Number(0, "tokens_per_second"):F0} tok/s | LoRA r=8 {Number(1, "tokens_per_second"):F0} tok/s | LoRA/full speed {Number(1, "tokens_per_second") / Number(0, "tokens_per_second"):F2}x"));
        Console.WriteLine(SideBySide.Format($"gradient checkpointing, LoRA r=8 on a {deep.Config.Layers}-layer Llama of {deep.Config.HiddenSize}, batch {deep.Batch} x {deep.Sequence} tokens:"));
        Console.WriteLine(SideBySide.Format($"  plain {Peak(2) / 1024.0:F0} MB peak, {Number(2, "ms_per_step"):F0} ms/step | checkpointed {Peak(3) / 1024.0:F0} MB peak, {Number(3, "ms_per_step"):F0} ms/step | peak memory {(double)Peak(3) / Peak(2):F3}x, time {Number(3, "ms_per_step") / Number(2, "ms_per_step"):F2}x"));
    }

    /// <summary>The child: one warm-up step, then <paramref name="steps"/> timed ones; prints tokens/s, ms/step and VmHWM.</summary>
    public static int RunChild(string shapeName, string method, bool checkpointed, int steps)
    {
        HostMemory.FixMmapThreshold();
        var shape = Shapes.Single(s => s.Name == shapeName);
        manual_seed(1);
        using var model = new LlamaForCausalLM(shape.Config);
        if (method == "lora") ModelAdapters.Apply(model, new PeftLoraConfig { R = 8, LoraAlpha = 16, TargetModules = ModuleSelector.AllLinear });
        if (checkpointed) GradientCheckpointing.Enable(model);
        var random = new Random(2);
        var examples = Enumerable.Range(0, shape.Batch * (steps + 1)).Select(_ => new TrainingExample(
            Enumerable.Range(0, shape.Sequence).Select(_ => (long)random.Next(shape.Config.VocabSize)).ToArray(), Enumerable.Repeat(true, shape.Sequence).ToArray())).ToList();
        var options = new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Constant, 1e-4, 0, steps + 1));
        using var trainer = new Trainer(model, ids => ((ICausalLanguageModel)model).Forward(ids, null), new ShuffledBatches(examples, shape.Batch, 3), options);
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
