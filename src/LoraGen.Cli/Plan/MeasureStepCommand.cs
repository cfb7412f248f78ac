using System.Globalization;
using LoraGen.Devices;
using LoraGen.Injection;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace LoraGen.Cli.Plan;

/// <summary>
/// `loragen measure-step`: the peak memory of a real CPU training step of the reference Llama, measured in a
/// process of its own so nothing else's heap is counted; the planner's tests compare it with the plan.
/// Method: glibc's mmap threshold fixed (freed buffers go back to the OS); a small warm-up step so libtorch's
/// one-off allocations are not counted; baseline VmRSS; build, apply the method, AdamW, one step; reset the
/// kernel's peak mark (/proc/self/clear_refs) and run a second step, the steady state of a training loop.
/// Prints <c>measured_bytes=</c> VmHWM − baseline.
/// </summary>
internal sealed class MeasureStepCommand : Command<MeasureStepCommand.Settings>
{
    private const string Usage = "measure-step HIDDEN INTERMEDIATE LAYERS HEADS KV_HEADS VOCAB full|lora|qlora RANK BATCH SEQ";

    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[VALUES]")]
        public string[] Values { get; init; } = [];
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation) => Run(settings.Values);

    private static int Run(string[] args)
    {
        if (args.Length != 10) throw new UsageException(Usage);
        int Int(int i) => int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new UsageException(Usage);
        var method = args[6] switch
        {
            "full" => TrainingMethod.Full,
            "lora" => TrainingMethod.Lora,
            "qlora" => TrainingMethod.Qlora,
            _ => throw new UsageException(Usage),
        };
        if (!OperatingSystem.IsLinux() || !HostMemory.FixMmapThreshold()) throw new UsageException("measure-step needs Linux with glibc");
        var config = new ModelConfig("llama", ModelFamily.Llama, Int(0), Int(1), Int(2), Int(3), Int(4), Int(5), false);
        var request = new PlanRequest(config, method, Int(7), 2.0 * Int(7), [Planner.AllLinear], Int(8), Int(9), Precision.Fp32);

        var small = new ModelConfig("llama", ModelFamily.Llama, 64, 128, 1, 4, 2, 100, false);
        TrainSteps(request with { Config = small, Rank = 4, Batch = 1, Sequence = 8 }, measure: false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long baseline = HostMemory.StatusBytes("VmRSS");
        long peak = TrainSteps(request, measure: true);
        Console.WriteLine($"measured_bytes={peak - baseline}");
        return 0;
    }

    /// <returns>VmHWM in bytes over the second step.</returns>
    private static long TrainSteps(PlanRequest request, bool measure)
    {
        using var scope = NewDisposeScope();
        manual_seed(71);
        using var model = new LlamaForCausalLM(request.Config);
        if (request.Method == TrainingMethod.Qlora) model.QuantizeBase();
        if (request.Method != TrainingMethod.Full)
            model.ApplyLora(Planner.Plan(request).AdapterConfig());
        using var optimizer = optim.AdamW(model.parameters().Where(p => p.requires_grad), lr: 1e-3);
        var ids = randint(0, request.Config.VocabSize, [request.Batch, request.Sequence]);
        for (int step = 0; step < 2; step++)
        {
            if (measure && step == 1) HostMemory.ResetPeak();
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            model.NextTokenLoss(ids).backward();
            optimizer.step();
        }
        return HostMemory.StatusBytes("VmHWM");
    }
}
