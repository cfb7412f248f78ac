namespace LoraGen.Training;

/// <summary>How a run trains, beyond its data: transformers' TrainingArguments under their names where they exist.</summary>
/// <param name="Schedule">The learning rate of every optimizer step, and how many steps there are.</param>
public sealed record TrainingOptions(LearningRateSchedule Schedule)
{
    /// <summary>Batches whose gradients add up before each optimizer step (gradient_accumulation_steps).</summary>
    public int GradientAccumulation { get; init; } = 1;

    /// <summary>Clip the gradients to this global L2 norm before each step (max_grad_norm); null: never.</summary>
    public double? ClipNorm { get; init; } = 1.0;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only, never to biases and norms.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Evaluate every this many steps (and at the end); 0: only at the end.</summary>
    public int EvalEvery { get; init; }

    /// <summary>Write checkpoint-&lt;step&gt;/ every this many steps (and at the end); 0: only at the end.</summary>
    public int SaveEvery { get; init; }

    /// <summary>Where checkpoint-&lt;step&gt;/ folders go; null: none are written.</summary>
    public string? OutputFolder { get; init; }

    public void Validate()
    {
        if (GradientAccumulation < 1) throw new ArgumentOutOfRangeException(nameof(GradientAccumulation), GradientAccumulation, "must be at least 1");
        if (ClipNorm is { } clip && !(clip > 0 && double.IsFinite(clip))) throw new ArgumentOutOfRangeException(nameof(ClipNorm), clip, "must be a positive finite number");
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay))) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "must be a finite number of at least 0");
        if (EvalEvery < 0) throw new ArgumentOutOfRangeException(nameof(EvalEvery), EvalEvery, "must be at least 0");
        if (SaveEvery < 0) throw new ArgumentOutOfRangeException(nameof(SaveEvery), SaveEvery, "must be at least 0");
    }
}

/// <summary>What one optimizer step did.</summary>
/// <param name="Loss">The mean training loss over the step's batches.</param>
/// <param name="GradientNorm">The global gradient norm before clipping.</param>
/// <param name="Tokens">Tokens the loss was taken on in this step.</param>
/// <param name="EvalLoss">The evaluation loss when this step evaluated; its perplexity is e^EvalLoss.</param>
public sealed record StepReport(int Step, double Loss, double LearningRate, double GradientNorm, long Tokens, double? EvalLoss)
{
    public double? EvalPerplexity => EvalLoss is { } loss ? Math.Exp(loss) : null;
}

/// <summary>How a run ended.</summary>
public enum TrainingOutcome
{
    /// <summary>Every step ran.</summary>
    Completed,

    /// <summary>Stopped when asked (Ctrl+C), after writing a checkpoint of the last finished step.</summary>
    Cancelled,

    /// <summary>A loss was NaN or infinite: stopped before that step changed anything; the last checkpoint is the last good state.</summary>
    NonFiniteLoss,
}
