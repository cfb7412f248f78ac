using LoraGen.Cli.Train;

namespace LoraGen.Cli.Demo;

/// <summary>The report's PNG plots (ScottPlot): loss curves per method, accuracy against rank, memory per method.</summary>
internal static class DemoPlots
{
    public const string Loss = "loss-curves.png", Accuracy = "accuracy-vs-rank.png", Memory = "memory.png";

    public static void Write(string folder, DemoResults results)
    {
        LossPlot.Write(Path.Combine(folder, Loss), results.Methods.Select(m => (m.Label, m.History)));
        AccuracyAgainstRank(Path.Combine(folder, Accuracy), results);
        MemoryBars(Path.Combine(folder, Memory), results.Methods);
    }

    /// <summary>LoRA's accuracy at each rank (log2 axis), with full fine-tuning and the base as reference lines.</summary>
    private static void AccuracyAgainstRank(string path, DemoResults results)
    {
        var lora = results.Methods.Where(m => m.Method == "lora").OrderBy(m => m.Rank).ToArray();
        var plot = new ScottPlot.Plot();
        var points = plot.Add.Scatter(lora.Select(m => Math.Log2(m.Rank)).ToArray(), lora.Select(m => 100 * m.Accuracy).ToArray());
        points.LegendText = "LoRA";
        var full = plot.Add.HorizontalLine(100 * results.Methods.Single(m => m.Method == "full").Accuracy);
        full.LegendText = "full fine-tuning";
        var baseline = plot.Add.HorizontalLine(100 * results.BaseAccuracy[Skill.Palindrome.Name]);
        baseline.LegendText = "base (no fine-tuning)";
        plot.Axes.Bottom.SetTicks(lora.Select(m => Math.Log2(m.Rank)).ToArray(), lora.Select(m => $"r={m.Rank}").ToArray());
        plot.XLabel("rank");
        plot.YLabel("exact match on held-out prompts (%)");
        plot.ShowLegend();
        plot.SavePng(path, 800, 500);
    }

    /// <summary>Gradient + optimizer memory and the weights as held, per method, in MB (peak RSS, hundreds of MB of runtime, is in the table).</summary>
    private static void MemoryBars(string path, IReadOnlyList<FineTuneResult> methods)
    {
        var plot = new ScottPlot.Plot();
        var positions = Enumerable.Range(0, methods.Count).Select(i => (double)i).ToArray();
        var optimizer = plot.Add.Bars(positions.Select(p => p - 0.2).ToArray(), methods.Select(m => m.GradientOptimizerBytes / 1e6).ToArray());
        optimizer.LegendText = "gradients + AdamW moments (MB)";
        var weights = plot.Add.Bars(positions.Select(p => p + 0.2).ToArray(), methods.Select(m => m.WeightBytes / 1e6).ToArray());
        weights.LegendText = "weights as held (MB; 4-bit base for QLoRA)";
        foreach (var bar in optimizer.Bars.Concat(weights.Bars)) bar.Size = 0.4;
        plot.Axes.Bottom.SetTicks(positions, methods.Select(m => m.Label).ToArray());
        plot.Axes.SetLimitsY(0, methods.Max(m => Math.Max(m.GradientOptimizerBytes, m.WeightBytes)) / 1e6 * 1.1);
        plot.YLabel("MB");
        plot.ShowLegend();
        plot.SavePng(path, 1000, 500);
    }
}
