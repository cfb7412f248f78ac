using LoraGen.Training;

namespace LoraGen.Cli.Train;

/// <summary>Loss curves as PNG (ScottPlot): one run's training and evaluation loss (loss.png), or several runs' training loss side by side.</summary>
internal static class LossPlot
{
    public static void Write(string path, IReadOnlyList<StepReport> history)
    {
        var plot = new ScottPlot.Plot();
        Curve(plot, "training loss", history);
        var evaluated = history.Where(r => r.EvalLoss is not null).ToArray();
        if (evaluated.Length > 0)
        {
            var eval = plot.Add.Scatter(evaluated.Select(r => (double)r.Step).ToArray(), evaluated.Select(r => r.EvalLoss!.Value).ToArray());
            eval.LegendText = "evaluation loss";
        }
        Save(plot, path);
    }

    /// <summary>The training loss of each run, labelled.</summary>
    public static void Write(string path, IEnumerable<(string Label, IReadOnlyList<StepReport> History)> runs)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (label, history) in runs) Curve(plot, label, history);
        Save(plot, path);
    }

    private static void Curve(ScottPlot.Plot plot, string label, IReadOnlyList<StepReport> history)
    {
        var line = plot.Add.Scatter(history.Select(r => (double)r.Step).ToArray(), history.Select(r => r.Loss).ToArray());
        line.LegendText = label;
        line.MarkerSize = 0;
    }

    private static void Save(ScottPlot.Plot plot, string path)
    {
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }
}
