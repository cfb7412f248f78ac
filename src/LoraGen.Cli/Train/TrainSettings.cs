using System.ComponentModel;
using LoraGen.Cli.Options;
using LoraGen.Training;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Train;

/// <summary>`loragen train`'s settings, typed.</summary>
internal sealed record TrainOptions(
    string Data, string? Eval, string Method, int Rank, double Alpha, string[] Targets, double Dropout, double LearningRate,
    ScheduleKind Schedule, int Warmup, int Batch, int GradientAccumulation, int Sequence, int? Steps, int Epochs, double? Clip,
    double WeightDecay, int Seed, int SaveEvery, int EvalEvery, string Output, string? Resume, bool Pad, bool GradientCheckpointing);

/// <summary>`loragen train`'s command line: transformers' and peft's names where they have one.</summary>
internal sealed class TrainSettings : ModelSettings
{
    [CommandOption("--data <FILE>"), Description("training data, JSON Lines: {\"text\"}, {\"prompt\", \"completion\"} or {\"messages\"}")]
    public string? Data { get; init; }

    [CommandOption("--eval <FILE>"), Description("held-out data in the same form: loss and perplexity")]
    public string? Eval { get; init; }

    [CommandOption("--method <METHOD>"), Description("lora (default), dora, qlora or full")]
    public string? Method { get; init; }

    [CommandOption("--rank <R>"), Description("LoRA rank (default 8)")]
    public string? Rank { get; init; }

    [CommandOption("--alpha <A>"), Description("lora_alpha (default 2·rank)")]
    public string? Alpha { get; init; }

    [CommandOption("--targets <LIST>"), Description("module names such as q_proj,v_proj, or all-linear (default)")]
    public string? Targets { get; init; }

    [CommandOption("--dropout <P>"), Description("lora_dropout (default 0.05)")]
    public string? Dropout { get; init; }

    [CommandOption("--lr <RATE>"), Description("peak learning rate (default 2e-4; full: 2e-5)")]
    public string? LearningRate { get; init; }

    [CommandOption("--schedule <KIND>"), Description("linear (default), cosine or constant, after the warm-up")]
    public string? Schedule { get; init; }

    [CommandOption("--warmup <STEPS>"), Description("linear warm-up steps from 0 (default 0)")]
    public string? Warmup { get; init; }

    [CommandOption("--batch <B>"), Description("sequences per batch (default 4)")]
    public string? Batch { get; init; }

    [CommandOption("--grad-accum <N>"), Description("batches per optimizer step (default 1)")]
    public string? GradAccum { get; init; }

    [CommandOption("--seq <S>"), Description("tokens per sequence (default 512)")]
    public string? Seq { get; init; }

    [CommandOption("--steps <N>"), Description("optimizer steps; overrides --epochs")]
    public string? Steps { get; init; }

    [CommandOption("--epochs <E>"), Description("passes over the data (default 1)")]
    public string? Epochs { get; init; }

    [CommandOption("--clip <NORM>"), Description("clip gradients to this global norm (default 1; 0: never)")]
    public string? Clip { get; init; }

    [CommandOption("--weight-decay <WD>"), Description("AdamW's decay on matrices (default 0)")]
    public string? WeightDecay { get; init; }

    [CommandOption("--seed <S>"), Description("seeds initialisation, dropout and shuffling (default 42)")]
    public string? Seed { get; init; }

    [CommandOption("--save-every <N>"), Description("write checkpoint-<step>/ every N steps (default: at the end only)")]
    public string? SaveEvery { get; init; }

    [CommandOption("--eval-every <N>"), Description("evaluate every N steps (default: at the end only)")]
    public string? EvalEvery { get; init; }

    [CommandOption("--out <DIR>"), Description("checkpoints, metrics.jsonl and the final adapter (default loragen-train)")]
    public string? Out { get; init; }

    [CommandOption("--resume <DIR>"), Description("a checkpoint-<step> folder of the same run to continue from")]
    public string? Resume { get; init; }

    [CommandOption("--pad"), Description("one example per sequence, padded, instead of packing examples end to end")]
    public bool Pad { get; init; }

    [CommandOption("--gradient-checkpointing"), Description("keep only each decoder layer's input and recompute the rest in the backward pass")]
    public bool GradientCheckpointing { get; init; }

    private TrainOptions? _options;

    public TrainOptions Options => _options ??= Read();

    private TrainOptions Read()
    {
        if (Data is null) throw new UsageException("--data FILE is required");
        if (Adapter is not null) throw new UsageException("train starts a new adapter; --resume DIR continues a run");
        string method = OptionValue.Choice("--method", Method, "lora", "lora", "dora", "qlora", "full");
        int rank = OptionValue.Int("--rank", Rank, 8, 1, 65536);
        double alpha = OptionValue.Real("--alpha", Alpha) ?? 2.0 * rank;
        if (!(alpha > 0)) throw new UsageException($"--alpha must be positive; got {alpha}");
        double dropout = OptionValue.Real("--dropout", Dropout) ?? 0.05;
        if (!(dropout >= 0 && dropout < 1)) throw new UsageException($"--dropout must be in [0, 1); got {dropout}");
        double rate = OptionValue.Real("--lr", LearningRate) ?? (method == "full" ? 2e-5 : 2e-4);
        if (!(rate > 0)) throw new UsageException($"--lr must be positive; got {rate}");
        var schedule = OptionValue.Choice("--schedule", Schedule, "linear", "linear", "cosine", "constant") switch
        {
            "cosine" => ScheduleKind.Cosine,
            "constant" => ScheduleKind.Constant,
            _ => ScheduleKind.Linear,
        };
        double clip = OptionValue.Real("--clip", Clip) ?? 1.0, decay = OptionValue.Real("--weight-decay", WeightDecay) ?? 0;
        if (clip < 0) throw new UsageException($"--clip must not be negative; got {clip}");
        if (decay < 0) throw new UsageException($"--weight-decay must not be negative; got {decay}");
        int? steps = Steps is null ? null : OptionValue.Int("--steps", Steps, 0, 1, 100_000_000);
        var targets = (Targets ?? "all-linear").Split(',').Select(t => t.Trim()).Where(t => t.Length > 0).ToArray();
        if (targets.Length == 0) throw new UsageException("--targets: the list is empty");
        return new TrainOptions(Data, Eval, method, rank, alpha, targets, dropout, rate, schedule,
            OptionValue.Int("--warmup", Warmup, 0, 0), OptionValue.Int("--batch", Batch, 4, 1, 65536), OptionValue.Int("--grad-accum", GradAccum, 1, 1, 65536),
            OptionValue.Int("--seq", Seq, 512, 2, 1 << 20), steps, OptionValue.Int("--epochs", Epochs, 1, 1, 100_000), clip > 0 ? clip : null, decay,
            OptionValue.Int("--seed", Seed, 42, int.MinValue), OptionValue.Int("--save-every", SaveEvery, 0, 0), OptionValue.Int("--eval-every", EvalEvery, 0, 0),
            Out ?? "loragen-train", Resume, Pad, GradientCheckpointing);
    }

    public override Spectre.Console.ValidationResult Validate()
    {
        try
        {
            _ = Options;
        }
        catch (UsageException error)
        {
            return Spectre.Console.ValidationResult.Error(error.Message);
        }
        return base.Validate();
    }
}
