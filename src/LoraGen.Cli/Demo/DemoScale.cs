namespace LoraGen.Cli.Demo;

/// <summary>How big the demo's run is: the base model, its pretraining, and each fine-tune.</summary>
internal sealed record DemoScale(
    int Hidden, int Intermediate, int Layers, int PretrainSteps, int FineTuneSteps, int[] Ranks, int TrainWords, int HeldOutWords)
{
    public const int Batch = 32;

    /// <summary>The README's run: about three minutes on two cores (the base pretrained once, then cached).</summary>
    public static readonly DemoScale Full = new(Hidden: 160, Intermediate: 432, Layers: 4, PretrainSteps: 400, FineTuneSteps: 100,
        Ranks: [1, 2, 4, 8, 16, 64], TrainWords: 2000, HeldOutWords: 64);

    /// <summary>--quick: a smaller base and fewer ranks, for CI.</summary>
    public static readonly DemoScale Quick = new(Hidden: 64, Intermediate: 128, Layers: 2, PretrainSteps: 800, FineTuneSteps: 200,
        Ranks: [1, 8], TrainWords: 1000, HeldOutWords: 32);
}
