using LoraGen.Training;

namespace LoraGen.Cli.Demo;

/// <summary>What one fine-tune measured.</summary>
/// <param name="TrainableLine">peft's print_trainable_parameters line.</param>
/// <param name="GradientOptimizerBytes">Trainable parameters × 4 bytes × 3: the fp32 gradient and AdamW's two moments.</param>
/// <param name="WeightBytes">The model's parameters and buffers as held in memory (a 4-bit base packs two weights per byte).</param>
/// <param name="PeakRssBytes">The process's peak resident memory during this run (VmHWM, reset before it).</param>
/// <param name="Accuracy">Exact match of greedy completions on the held-out prompts.</param>
internal sealed record FineTuneResult(
    string Label, string Method, int Rank, long TrainableParameters, long AllParameters, string TrainableLine, long GradientOptimizerBytes,
    long WeightBytes, long PeakRssBytes, double MillisecondsPerStep, double EvalLoss, double Accuracy, IReadOnlyList<StepReport> History);
