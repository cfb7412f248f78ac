namespace LoraGen.Cli.Demo;

/// <summary>Everything the demo measured: results.json.</summary>
/// <param name="BaseAccuracy">The base's exact match per skill, before any fine-tuning (its pretraining skills and the new ones).</param>
/// <param name="Mechanics">The checks the exit code rests on, each with whether it held.</param>
internal sealed record DemoResults(
    string Device, int Seed, bool Quick, DemoScale Scale, PreparedBase Base, IReadOnlyDictionary<string, double> BaseAccuracy,
    IReadOnlyList<FineTuneResult> Methods, ServingResult Serving, IReadOnlyList<Claim> Claims, IReadOnlyList<Claim> Mechanics, double WallSeconds)
{
    public bool Ok => Mechanics.All(m => m.Held);
}
