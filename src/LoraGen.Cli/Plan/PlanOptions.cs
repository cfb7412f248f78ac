using LoraGen.Planning;

namespace LoraGen.Cli.Plan;

/// <summary>`loragen plan`'s options, typed (read from <see cref="PlanSettings"/>).</summary>
internal sealed record PlanOptions(
    string? ConfigPath, string? Preset, int Rank, double? Alpha, IReadOnlyList<string> Targets, TrainingMethod Method,
    int Batch, int Sequence, Precision Precision, bool Json, bool Explain)
{
    public PlanRequest ToRequest(ModelConfig model) =>
        new(model, Method, Rank, Alpha ?? 2.0 * Rank, Targets, Batch, Sequence, Precision);
}
