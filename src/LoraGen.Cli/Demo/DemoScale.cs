namespace LoraGen.Cli.Demo;

/// <summary>How big the demo's run is: the base model, its pretraining, and each fine-tune.</summary>
/// <param name="AdapterLearningRate">
/// The adapters' peak rate, below the edge measured on each base: on the full base 2e-2 diverged at every rank and 1e-2
/// sometimes stalled, while 7e-3 converged for every rank and seed tried; the quick base's smaller layers take 1e-2.
/// </param>
internal sealed record DemoScale(
    int Hidden, int Intermediate, int Layers, int PretrainSteps, int FineTuneSteps, int[] Ranks, int TrainWords, int HeldOutWords, double AdapterLearningRate)
{
    public const int Batch = 32;

    /// <summary>Full fine-tuning takes a smaller step than the adapters, whose B starts at zero (the usual settings).</summary>
    public const double FullLearningRate = 3e-3;

    public double LearningRateOf(FineTuneMethod method) => method.Method == "full" ? FullLearningRate : AdapterLearningRate;

    /// <summary>The README's run: about three minutes on two cores with pretraining, two from the cache.</summary>
    public static readonly DemoScale Full = new(Hidden: 160, Intermediate: 432, Layers: 4, PretrainSteps: 400, FineTuneSteps: 150,
        Ranks: [1, 2, 4, 8, 16, 64], TrainWords: 2000, HeldOutWords: 64, AdapterLearningRate: 7e-3);

    /// <summary>--quick: a smaller base and fewer ranks, for CI.</summary>
    public static readonly DemoScale Quick = new(Hidden: 64, Intermediate: 128, Layers: 2, PretrainSteps: 800, FineTuneSteps: 200,
        Ranks: [1, 8], TrainWords: 1000, HeldOutWords: 32, AdapterLearningRate: 1e-2);
}
