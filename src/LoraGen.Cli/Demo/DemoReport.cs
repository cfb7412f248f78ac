using System.Globalization;
using System.Text;
using System.Text.Json;
using LoraGen.Checkpoints;
using Spectre.Console;

namespace LoraGen.Cli.Demo;

/// <summary>The demo's results as a console table, and as report.md, results.json and the plots in the report folder.</summary>
internal static class DemoReport
{
    public const string Markdown = "report.md", Json = "results.json";

    private static readonly string[] Columns =
        ["method", "trainable params", "trainable %", "grad+optim", "weights", "peak RSS", "ms/step", "eval loss", "exact match"];

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>One row per method, the base first; the same cells in the console and in report.md.</summary>
    private static IEnumerable<string[]> Rows(DemoResults results) =>
        new[] { new[] { "base (no fine-tuning)", "-", "-", "-", "-", "-", "-", "-", Percent(results.BaseAccuracy[Skill.Palindrome.Name]) } }
            .Concat(results.Methods.Select(m => new[]
            {
                m.Label, Text($"{m.TrainableParameters:N0}"), Text($"{100.0 * m.TrainableParameters / m.AllParameters:F2}"),
                Megabytes(m.GradientOptimizerBytes), Megabytes(m.WeightBytes), Megabytes(m.PeakRssBytes), Text($"{m.MillisecondsPerStep:F1}"),
                Text($"{m.EvalLoss:F4}"), Percent(m.Accuracy),
            }));

    public static void PrintTable(DemoResults results)
    {
        // Spectre gives a pipe or a log 80 columns, which wraps every cell: the table is read there too (CI, tests).
        if (!AnsiConsole.Profile.Capabilities.Interactive) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
        var table = new Table().Title($"'{Skill.Palindrome.Name}' learned from the base, {results.Scale.FineTuneSteps} steps each, {results.Scale.HeldOutWords} held-out prompts");
        foreach (var column in Columns) table.AddColumn(column);
        foreach (var row in Rows(results)) table.AddRow(row.Select(Markup.Escape).ToArray());
        AnsiConsole.Write(table);
    }

    public static void Write(string folder, DemoResults results)
    {
        Directory.CreateDirectory(folder);
        AtomicFile.Write(Path.Combine(folder, Json), stream => JsonSerializer.Serialize(stream, results, JsonOptions));
        DemoPlots.Write(folder, results);
        File.WriteAllText(Path.Combine(folder, Markdown), MarkdownText(results));
    }

    private static string MarkdownText(DemoResults r)
    {
        var s = r.Serving;
        var text = new StringBuilder();
        text.AppendLine("# loragen demo").AppendLine();
        text.AppendLine(Text($"A {r.Scale.Layers}-layer Llama (hidden {r.Scale.Hidden}, {r.Methods[0].AllParameters:N0} parameters, character tokenizer) ")
            + (r.Base.Restored ? $"restored from `{r.Base.Folder}`" : Text($"pretrained in {r.Base.Seconds:F0} s on {string.Join(" and ", DemoBaseModel.PretrainingSkills.Select(k => k.Name))} ({r.Scale.PretrainSteps} steps), saved to `{r.Base.Folder}`"))
            + Text($"; then taught a new skill, `{Skill.Palindrome.Prompt("abc")}` → `{Skill.Palindrome.Apply("abc")}`, by each method with the same data and {r.Scale.FineTuneSteps} steps. Device: {r.Device}, seed {r.Seed}, wall time {r.WallSeconds:F0} s."));
        text.AppendLine().AppendLine("Base accuracy before fine-tuning: " + string.Join(", ", r.BaseAccuracy.Select(a => $"{a.Key} {Percent(a.Value)}")) + ".").AppendLine();
        text.AppendLine("| " + string.Join(" | ", Columns) + " |").AppendLine("|" + string.Concat(Columns.Select(_ => "---|")));
        foreach (var row in Rows(r)) text.AppendLine("| " + string.Join(" | ", row) + " |");
        text.AppendLine().AppendLine("## The seed's claims, measured").AppendLine();
        foreach (var claim in r.Claims) text.AppendLine($"- **{(claim.Held ? "held" : "did not hold")}**: {claim.Statement}. {claim.Evidence}.");
        text.AppendLine().AppendLine("## Serving").AppendLine();
        text.AppendLine(Text($"- merge: max |merged − unmerged| = {s.MergeMaxDiff:E2}; forward {s.MergedForwardMs:F2} ms merged vs {s.UnmergedForwardMs:F2} ms unmerged"));
        text.AppendLine(Text($"- the merged model as a plain Hugging Face folder, `{s.MergedFolder}`, loaded back: max |diff| = {s.MergedReloadMaxDiff:E2}"));
        text.AppendLine(Text($"- peft files ({s.AdapterBytes:N0} bytes of adapter weights) reloaded into a fresh base: max |diff| = {s.ReloadMaxDiff:E2}; folders: {string.Join(", ", s.AdapterFolders.Select(f => $"`{f}`"))}"));
        text.AppendLine(Text($"- two adapters on one base, hot-swapped in {s.SwapMilliseconds:F3} ms: {Skill.Palindrome.Name} {Percent(s.FirstSkillAccuracy)}, {Skill.Twice.Name} {Percent(s.SecondSkillAccuracy)}"));
        text.AppendLine().AppendLine("| prompt | expected | before | after |").AppendLine("|---|---|---|---|");
        foreach (var sample in s.Samples) text.AppendLine($"| `{sample.Prompt}` | `{sample.Expected}` | `{sample.Before}` | `{sample.After}` |");
        text.AppendLine().AppendLine("## Checks the exit code rests on").AppendLine();
        foreach (var check in r.Mechanics) text.AppendLine($"- {(check.Held ? "ok" : "FAILED")}: {check.Statement}: {check.Evidence}");
        text.AppendLine().AppendLine($"![loss curves]({DemoPlots.Loss}) ![accuracy vs rank]({DemoPlots.Accuracy}) ![memory]({DemoPlots.Memory})");
        return text.ToString();
    }

    public static string Percent(double fraction) => Text($"{100 * fraction:F1}%");

    private static string Megabytes(long bytes) => Text($"{bytes / 1e6:F2} MB");

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
