namespace LoraGen.Training;

/// <summary>The shape of the learning rate after warm-up, as transformers' get_scheduler names them.</summary>
public enum ScheduleKind
{
    /// <summary>The peak rate after warm-up (transformers' constant_with_warmup).</summary>
    Constant,

    /// <summary>Down to zero in a straight line at the last step.</summary>
    Linear,

    /// <summary>Half a cosine wave, from the peak to zero at the last step.</summary>
    Cosine,
}

/// <summary>
/// The learning rate of each optimizer step, as transformers computes it: a linear warm-up from 0 over
/// <paramref name="WarmupSteps"/>, then <paramref name="Kind"/>. Step 0 is the first optimizer step, so with a warm-up
/// it runs at rate 0, exactly as transformers' LambdaLR schedules do.
/// </summary>
public sealed record LearningRateSchedule(ScheduleKind Kind, double PeakRate, int WarmupSteps, int TotalSteps)
{
    public double RateAt(int step)
    {
        if (step < WarmupSteps) return PeakRate * step / Math.Max(1, WarmupSteps);
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return Kind switch
        {
            ScheduleKind.Constant => PeakRate,
            ScheduleKind.Linear => PeakRate * Math.Max(0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps)),
            _ => PeakRate * Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * progress))),
        };
    }

    /// <summary>Refuses settings that cannot describe a run, naming the argument.</summary>
    public static LearningRateSchedule Create(ScheduleKind kind, double peakRate, int warmupSteps, int totalSteps)
    {
        if (!(peakRate > 0) || !double.IsFinite(peakRate)) throw new ArgumentOutOfRangeException(nameof(peakRate), peakRate, "the learning rate must be a positive finite number");
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "a run needs at least one step");
        if (warmupSteps < 0 || warmupSteps > totalSteps) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, $"warm-up must be between 0 and the {totalSteps} steps of the run");
        return new LearningRateSchedule(kind, peakRate, warmupSteps, totalSteps);
    }
}
