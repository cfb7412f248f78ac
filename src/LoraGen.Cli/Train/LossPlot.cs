using LoraGen.Training;

namespace LoraGen.Cli.Train;

/// <summary>loss.png: the training loss of every step and the evaluation loss where it was taken (ScottPlot).</summary>
internal static class LossPlot
{
    public static void Write(string path, IReadOnlyList<StepReport> history)
    {
        var plot = new ScottPlot.Plot();
        var train = plot.Add.Scatter(history.Select(r => (double)r.Step).ToArray(), history.Select(r => r.Loss).ToArray());
        train.LegendText = "training loss";
        train.MarkerSize = 0;
        var evaluated = history.Where(r => r.EvalLoss is not null).ToArray();
        if (evaluated.Length > 0)
        {
            var eval = plot.Add.Scatter(evaluated.Select(r => (double)r.Step).ToArray(), evaluated.Select(r => r.EvalLoss!.Value).ToArray());
            eval.LegendText = "evaluation loss";
        }
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }
}
