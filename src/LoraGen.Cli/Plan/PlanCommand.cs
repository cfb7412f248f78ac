using System.Globalization;
using System.Text.Json;
using LoraGen.Planning;
using Spectre.Console;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Plan;

/// <summary>`loragen plan`: parameter counts, memory and compute of a fine-tuning method for a model.</summary>
internal sealed class PlanCommand : Command<PlanSettings>
{
    public override int Execute(CommandContext context, PlanSettings settings, CancellationToken cancellation) => Run(settings.Options);

    private static int Run(PlanOptions options)
    {
        if (options.Explain)
        {
            PlanExplanation.Write();
            return 0;
        }
        var (config, name) = options.ConfigPath is { } path
            ? (ModelConfigReader.FromFile(path), Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? path)
            : (ModelPresets.Get(options.Preset!), options.Preset!);
        var plan = Planner.Plan(options.ToRequest(config));
        if (options.Json) Console.WriteLine(Json(plan, name));
        else Text(plan, name);
        return 0;
    }

    private static void Text(TrainingPlan plan, string name)
    {
        var r = plan.Request;
        string method = r.Method.ToString().ToLowerInvariant();
        string adapters = r.Method == TrainingMethod.Full ? "" : $", r={r.Rank}, alpha={Number(r.Alpha)}, targets {string.Join(",", r.Targets)}";
        AnsiConsole.MarkupLineInterpolated($"[bold]{name}[/] ({r.Config.ModelType}), method [bold]{method}[/]{adapters}, batch {r.Batch} x seq {r.Sequence}, {r.Precision.ToString().ToLowerInvariant()} precision");
        Console.WriteLine(plan.Parameters.ToString());      // peft's line, verbatim

        if (plan.Modules.Count > 0)
        {
            var modules = new Table().AddColumns("module", "layers", "in x out", "trainable each", "trainable total");
            foreach (var m in plan.Modules)
                modules.AddRow(Markup.Escape(m.Pattern), m.Instances.ToString(CultureInfo.InvariantCulture), $"{m.InFeatures} x {m.OutFeatures}",
                    Count(m.TrainablePerInstance), Count(m.TrainableTotal));
            AnsiConsole.Write(modules);
        }

        var memory = new Table().AddColumns("memory", "bytes", "GiB");
        void Row(string label, long bytes) => memory.AddRow(label, Count(bytes), (bytes / 1073741824.0).ToString("F2", CultureInfo.InvariantCulture));
        var m2 = plan.Memory;
        Row("weights", m2.Weights);
        Row("gradients", m2.Gradients);
        Row("optimizer states (AdamW)", m2.OptimizerStates);
        Row("activations", m2.Activations);
        Row("activations, gradient checkpointing", m2.ActivationsCheckpointed);
        Row("logits", m2.Logits);
        Row("total", m2.Total);
        Row("total, gradient checkpointing", m2.TotalCheckpointed);
        AnsiConsole.Write(memory);
        Console.WriteLine($"smallest GPU set: {plan.GpuSet} ({plan.GpuSetCheckpointed} with gradient checkpointing)");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"compute per token (forward + backward): {plan.FlopsPerToken:E3} FLOPs; full fine-tuning {plan.FullFlopsPerToken:E3}; ratio {plan.FlopsPerToken / plan.FullFlopsPerToken:F3}"));
        Console.WriteLine("(how these figures are made, and where the usual ones go wrong: loragen plan --explain)");
    }

    private static string Json(TrainingPlan plan, string name)
    {
        var m = plan.Memory;
        var document = new Dictionary<string, object>
        {
            ["model"] = name,
            ["model_type"] = plan.Request.Config.ModelType,
            ["method"] = plan.Request.Method.ToString().ToLowerInvariant(),
            ["rank"] = plan.Request.Rank,
            ["alpha"] = plan.Request.Alpha,
            ["targets"] = plan.Request.Targets,
            ["batch"] = plan.Request.Batch,
            ["seq"] = plan.Request.Sequence,
            ["precision"] = plan.Request.Precision.ToString().ToLowerInvariant(),
            ["trainable_params"] = plan.Parameters.Trainable,
            ["all_params"] = plan.Parameters.All,
            ["trainable_percent"] = Math.Round(plan.Parameters.TrainablePercent, 4),
            ["peft_line"] = plan.Parameters.ToString(),
            ["weights_bytes"] = m.Weights,
            ["gradients_bytes"] = m.Gradients,
            ["optimizer_bytes"] = m.OptimizerStates,
            ["activations_bytes"] = m.Activations,
            ["activations_checkpointed_bytes"] = m.ActivationsCheckpointed,
            ["logits_bytes"] = m.Logits,
            ["total_bytes"] = m.Total,
            ["total_checkpointed_bytes"] = m.TotalCheckpointed,
            ["flops_per_token"] = plan.FlopsPerToken,
            ["full_flops_per_token"] = plan.FullFlopsPerToken,
            ["gpu_set"] = plan.GpuSet,
            ["gpu_set_checkpointed"] = plan.GpuSetCheckpointed,
            ["modules"] = plan.Modules.Select(x => new Dictionary<string, object>
            {
                ["pattern"] = x.Pattern, ["layers"] = x.Instances, ["in"] = x.InFeatures, ["out"] = x.OutFeatures,
                ["trainable_each"] = x.TrainablePerInstance, ["trainable_total"] = x.TrainableTotal,
            }).ToArray(),
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true });
    }

    internal static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Number(double value) => value.ToString("G", CultureInfo.InvariantCulture);
}
