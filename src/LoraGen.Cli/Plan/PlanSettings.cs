using System.ComponentModel;
using LoraGen.Cli.Options;
using LoraGen.Planning;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Plan;

/// <summary>`loragen plan`'s command line; values are read strictly into <see cref="PlanOptions"/>.</summary>
internal sealed class PlanSettings : ValidatedSettings<PlanOptions>
{
    [CommandOption("--config <PATH>"), Description("a config.json, or a model folder holding one")]
    public string? Config { get; init; }

    [CommandOption("--preset <NAME>"), Description("a built-in model (llama-3-8b, qwen3-0.6b, gemma-2-2b, phi-3-mini, gpt2 and more)")]
    public string? Preset { get; init; }

    [CommandOption("--rank <R>"), Description("LoRA rank (lora, dora, qlora)")]
    public string? Rank { get; init; }

    [CommandOption("--alpha <A>"), Description("lora_alpha; 2·rank when not given")]
    public string? Alpha { get; init; }

    [CommandOption("--targets <LIST>"), Description("module names such as q_proj,v_proj, or all-linear")]
    public string? Targets { get; init; }

    [CommandOption("--method <METHOD>"), Description("full, lora, dora or qlora (default lora)")]
    public string? Method { get; init; }

    [CommandOption("--batch <B>"), Description("sequences per step (default 1)")]
    public string? Batch { get; init; }

    [CommandOption("--seq <S>"), Description("tokens per sequence (default 2048)")]
    public string? Seq { get; init; }

    [CommandOption("--precision <P>"), Description("mixed (16-bit compute, fp32 master weights) or fp32 (default mixed)")]
    public string? Precision { get; init; }

    [CommandOption("--format <F>"), Description("text or json (default text)")]
    public string? Format { get; init; }

    [CommandOption("--explain"), Description("explain the arithmetic on one 4096 x 4096 layer")]
    public bool Explain { get; init; }

    protected override PlanOptions Read()
    {
        int rank = OptionValue.Int("--rank", Rank) ?? 0, batch = OptionValue.Int("--batch", Batch) ?? 1, seq = OptionValue.Int("--seq", Seq) ?? 2048;
        double? alpha = OptionValue.Real("--alpha", Alpha);
        var method = OptionValue.Choice("--method", Method, "lora", "full", "lora", "dora", "qlora") switch
        {
            "full" => TrainingMethod.Full,
            "dora" => TrainingMethod.Dora,
            "qlora" => TrainingMethod.Qlora,
            _ => TrainingMethod.Lora,
        };
        var precision = OptionValue.Choice("--precision", Precision, "mixed", "mixed", "fp32") == "fp32" ? Planning.Precision.Fp32 : Planning.Precision.Mixed;
        bool json = OptionValue.Choice("--format", Format, "text", "text", "json") == "json";
        if (!Explain)
        {
            if ((Config is null) == (Preset is null)) throw new UsageException("plan needs exactly one of --config PATH or --preset NAME");
            if (method != TrainingMethod.Full)
            {
                if (rank < 1) throw new UsageException($"--rank must be at least 1 for {method.ToString().ToLowerInvariant()}; got {rank}");
                if (Targets is null) throw new UsageException("--targets is required (a list such as q_proj,v_proj, or all-linear)");
            }
            if (batch < 1) throw new UsageException($"--batch must be at least 1; got {batch}");
            if (seq < 1) throw new UsageException($"--seq must be at least 1; got {seq}");
            if (alpha is <= 0) throw new UsageException($"--alpha must be positive; got {alpha}");
        }
        var targets = Targets is null ? [] : Targets.Split(',').Select(t => t.Trim()).ToArray();
        return new PlanOptions(Config, Preset, rank, alpha, targets, method, batch, seq, precision, json, Explain);
    }
}
