using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Devices;
using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using LoraGen.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Train;

/// <summary>
/// `loragen train`: fine-tunes a Hugging Face model folder on JSON Lines data with LoRA, DoRA, QLoRA or full
/// fine-tuning. Data problems are found before the first step; checkpoints resume exactly; Ctrl+C saves one and
/// exits (130); a loss that is not finite stops the run (exit 1) with the last good checkpoint kept. Writes
/// metrics.jsonl, loss.png and, at the end, the adapter in peft's format (adapter/) or, for full fine-tuning, the model (model/).
/// </summary>
internal sealed class TrainCommand : Command<TrainSettings>
{
    public override int Execute(CommandContext context, TrainSettings settings, CancellationToken cancellation)
    {
        var o = settings.Options;
        string folder = settings.Model!;
        var config = ModelConfigReader.FromFile(folder);
        var encoder = TokenEncoder.FromFolder(folder);
        ChatFormat? chat = null;
        try
        {
            chat = ChatFormat.For(config);
        }
        catch (DataException)
        {
            // A family without a known chat layout: "messages" lines are refused with the reason, the others train.
        }
        if (ContextLength(folder) is int positions && o.Sequence > positions)
            throw new UsageException($"--seq {o.Sequence} is longer than the model's context ({positions} positions)");
        var train = Examples(o.Data, encoder, chat, o);
        var eval = o.Eval is null ? [] : Batches(Examples(o.Eval, encoder, chat, o), o.Batch);
        if (train.Count < o.Batch) throw new DataException($"{o.Data}: {train.Count} sequences of {o.Sequence} tokens do not fill one batch of {o.Batch}");
        var batches = new ShuffledBatches(train, o.Batch, o.Seed);
        int steps = o.Steps ?? Math.Max(1, o.Epochs * batches.BatchesPerEpoch / o.GradientAccumulation);

        HostMemory.FixMmapThreshold();
        manual_seed(o.Seed);
        using var model = settings.LoadModel();
        if (model is not ICausalLanguageModel language) throw new UsageException($"--model: {model.GetName()} is not a causal language model");
        var device = model.parameters().First().device;
        Adapt(model, o);
        if (o.GradientCheckpointing) GradientCheckpointing.Enable(model);
        Console.WriteLine($"{config.ModelType} from {folder}: {o.Method}, {train.Count} sequences of {o.Sequence} tokens, {steps} steps on {device.type}");
        Console.WriteLine(ParameterSummary.Of(model));

        var options = new TrainingOptions(LearningRateSchedule.Create(o.Schedule, o.LearningRate, o.Warmup, steps))
        {
            GradientAccumulation = o.GradientAccumulation,
            ClipNorm = o.Clip,
            WeightDecay = o.WeightDecay,
            EvalEvery = o.EvalEvery,
            SaveEvery = o.SaveEvery,
            OutputFolder = o.Output,
        };
        using var trainer = new Trainer(model, ids => language.Forward(ids.to(device), null), batches, options, eval);
        if (o.Resume is not null) trainer.Resume(o.Resume);
        Directory.CreateDirectory(o.Output);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;                                                    // finish the step, save, then exit
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            bool live = AnsiConsole.Profile.Capabilities.Interactive;
            var outcome = Run(trainer, stop.Token, Progress(o, steps, trainer.Step, printLines: !live), steps, live);
            LossPlot.Write(Path.Combine(o.Output, "loss.png"), trainer.History);
            switch (outcome)
            {
                case TrainingOutcome.Cancelled:
                    Console.WriteLine($"stopped at step {trainer.Step}: saved {trainer.CheckpointFolder(trainer.Step)} (continue with --resume)");
                    return 130;
                case TrainingOutcome.NonFiniteLoss:
                    int kept = o.SaveEvery > 0 ? trainer.Step / o.SaveEvery * o.SaveEvery : 0;
                    Console.Error.WriteLine($"loragen train: the loss was not finite at step {trainer.Step + 1}; stopped before it changed anything" +
                        (kept > 0 ? $" (the last checkpoint is {trainer.CheckpointFolder(kept)})" : ""));
                    return 1;
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        SaveResult(model, folder, o);
        return 0;
    }

    /// <summary>
    /// Runs the trainer; on an interactive terminal under a live progress bar (step, loss, learning rate, tokens/s,
    /// ETA, peak RSS), elsewhere (a pipe, a log, CI) with the report lines alone.
    /// </summary>
    private static TrainingOutcome Run(Trainer trainer, CancellationToken stop, Action<StepReport> report, int steps, bool live)
    {
        if (!live) return trainer.Run(stop, report);
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        return AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(progress =>
            {
                var task = progress.AddTask("training", maxValue: steps);
                task.Value = trainer.Step;
                return trainer.Run(stop, r =>
                {
                    report(r);
                    tokens += r.Tokens;
                    task.Value = r.Step;
                    task.Description = string.Create(CultureInfo.InvariantCulture,
                        $"step {r.Step}/{steps} loss {r.Loss:F4} lr {r.LearningRate:E2} {tokens / clock.Elapsed.TotalSeconds:F0} tok/s RSS {HostMemory.StatusBytes("VmHWM") / 1e6:F0} MB");
                });
            });
    }

    /// <summary>The data as training sequences: each line tokenized, then packed end to end or padded.</summary>
    private static List<TrainingExample> Examples(string path, TokenEncoder encoder, ChatFormat? chat, TrainOptions o)
    {
        var records = JsonlRecords.Read(path, chat).Select(encoder.Encode).ToList();
        return o.Pad ? SequenceLayout.Pad(records, o.Sequence, encoder.Eos ?? 0) : SequenceLayout.Pack(records, o.Sequence);
    }

    /// <summary>Evaluation batches of <paramref name="size"/> examples (the last one may be smaller).</summary>
    internal static List<TokenBatch> Batches(IReadOnlyList<TrainingExample> examples, int size) =>
        examples.Chunk(size).Select(TokenBatch.Of).ToList();

    /// <summary>config.json's max_position_embeddings (n_positions for GPT-2), when it says.</summary>
    private static int? ContextLength(string folder)
    {
        using var document = JsonDocument.Parse(InputFile.ReadAllText(Path.Combine(folder, "config.json"), InputFile.JsonLimit));
        foreach (var field in new[] { "max_position_embeddings", "n_positions" })
            if (document.RootElement.TryGetProperty(field, out var value) && value.TryGetInt32(out int positions) && positions > 0) return positions;
        return null;
    }

    /// <summary>peft's get_peft_model for the adapter methods (QLoRA: the base to NF4 first); full fine-tuning trains every parameter.</summary>
    private static void Adapt(nn.Module model, TrainOptions o) =>
        Adapt(model, o.Method, new PeftLoraConfig
        {
            R = o.Rank, LoraAlpha = o.Alpha, LoraDropout = o.Dropout,
            TargetModules = o.Targets is ["all-linear"] ? ModuleSelector.AllLinear : ModuleSelector.Names(o.Targets),
        });

    /// <summary>Prepares <paramref name="model"/> for <paramref name="method"/> (full, lora, dora or qlora) with the adapter settings of <paramref name="adapter"/>.</summary>
    internal static void Adapt(nn.Module model, string method, PeftLoraConfig adapter)
    {
        if (method == "full") return;
        if (method == "qlora") ModelAdapters.QuantizeBase(model);
        ModelAdapters.Apply(model, adapter with { UseDora = method == "dora" });
    }

    /// <summary>Every step to metrics.jsonl; with <paramref name="printLines"/>, a line per tenth of the run (and every evaluation): step, loss, learning rate, tokens/s, ETA, peak RSS.</summary>
    private static Action<StepReport> Progress(TrainOptions o, int steps, int startStep, bool printLines)
    {
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        string metrics = Path.Combine(o.Output, "metrics.jsonl");
        int every = Math.Max(1, steps / 10);
        return report =>
        {
            tokens += report.Tokens;
            File.AppendAllText(metrics, JsonSerializer.Serialize(report, MetricsJson) + "\n");
            if (!printLines || report.Step % every != 0 && report.Step != steps && report.EvalLoss is null) return;
            double seconds = clock.Elapsed.TotalSeconds, perStep = seconds / Math.Max(1, report.Step - startStep);
            string eval = report.EvalLoss is { } loss ? $"  eval loss {loss:F4} (perplexity {report.EvalPerplexity:F2})" : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"step {report.Step,6}/{steps}  loss {report.Loss:F4}  lr {report.LearningRate:E2}  {tokens / Math.Max(seconds, 1e-9):F0} tok/s  ETA {TimeSpan.FromSeconds(perStep * (steps - report.Step)):hh\\:mm\\:ss}  peak RSS {HostMemory.StatusBytes("VmHWM") / 1e6:F0} MB{eval}"));
        };
    }

    private static readonly JsonSerializerOptions MetricsJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The adapter in peft's format under out/adapter, or the fully fine-tuned model under out/model.</summary>
    private static void SaveResult(nn.Module model, string folder, TrainOptions o)
    {
        if (o.Method != "full")
        {
            string adapter = Path.Combine(o.Output, "adapter");
            PeftAdapter.Save(model, adapter);
            Console.WriteLine($"adapter saved in peft's format: {adapter}");
            return;
        }
        string target = Path.Combine(o.Output, "model");
        HfModels.SaveFolder(model, folder, target, ScalarType.BFloat16);
        Console.WriteLine($"model saved: {target}");
    }
}
