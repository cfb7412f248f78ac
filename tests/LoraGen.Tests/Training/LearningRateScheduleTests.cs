using LoraGen.Training;

namespace LoraGen.Tests.Training;

/// <summary>transformers' schedules (get_constant_schedule_with_warmup, get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup), worked by hand.</summary>
public class LearningRateScheduleTests
{
    [Theory]
    // peak 1e-3, 10 warm-up steps of 100: warm-up is step/10 of the peak, from 0
    [InlineData(ScheduleKind.Constant, 0, 0.0)]
    [InlineData(ScheduleKind.Constant, 5, 5e-4)]
    [InlineData(ScheduleKind.Constant, 10, 1e-3)]
    [InlineData(ScheduleKind.Constant, 99, 1e-3)]
    [InlineData(ScheduleKind.Linear, 5, 5e-4)]
    [InlineData(ScheduleKind.Linear, 10, 1e-3)]
    [InlineData(ScheduleKind.Linear, 55, 5e-4)]          // (100 − 55) / 90 of the peak
    [InlineData(ScheduleKind.Linear, 91, 1e-4)]          // 9 / 90
    [InlineData(ScheduleKind.Linear, 100, 0.0)]
    [InlineData(ScheduleKind.Cosine, 10, 1e-3)]
    [InlineData(ScheduleKind.Cosine, 55, 5e-4)]          // half way: ½(1 + cos ½π) = ½
    [InlineData(ScheduleKind.Cosine, 32.5, 8.535533905932737e-4)]   // a quarter: ½(1 + cos ¼π) = 0.8536 (step 32.5 is not a step; see below)
    [InlineData(ScheduleKind.Cosine, 100, 0.0)]
    public void Rates_follow_transformers(ScheduleKind kind, double step, double expected)
    {
        var schedule = LearningRateSchedule.Create(kind, 1e-3, 10, 100);
        if (step != Math.Floor(step))
        {
            // A quarter of the cosine falls between steps 32 and 33: check both sides bracket it.
            Assert.InRange(expected, schedule.RateAt(33), schedule.RateAt(32));
            return;
        }
        Assert.Equal(expected, schedule.RateAt((int)step), 12);
    }

    [Theory]
    [InlineData(0.0, 10, 100, "peakRate")]
    [InlineData(double.NaN, 10, 100, "peakRate")]
    [InlineData(1e-3, 10, 0, "totalSteps")]
    [InlineData(1e-3, -1, 100, "warmupSteps")]
    [InlineData(1e-3, 101, 100, "warmupSteps")]
    public void Impossible_settings_are_refused_by_name(double rate, int warmup, int total, string argument)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Create(ScheduleKind.Linear, rate, warmup, total));
        Assert.Equal(argument, error.ParamName);
    }
}
