using System.Globalization;
using LoraGen.Planning;

namespace LoraGen.Cli.Plan;

/// <summary>`loragen plan` arguments, parsed strictly: every mistake is a <see cref="UsageException"/> (exit code 2).</summary>
internal sealed record PlanOptions(
    string? ConfigPath, string? Preset, int Rank, double? Alpha, IReadOnlyList<string> Targets, TrainingMethod Method,
    int Batch, int Sequence, Precision Precision, bool Json, bool Explain)
{
    public static PlanOptions Parse(string[] args)
    {
        string? config = null, preset = null, targets = null, format = "text";
        int rank = 0, batch = 1, seq = 2048;
        double? alpha = null;
        var method = TrainingMethod.Lora;
        var precision = Precision.Mixed;
        bool explain = false;
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{flag} needs a value");
            int Int()
            {
                string text = Value();
                if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) return n;
                throw new UsageException(long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) || text.TrimStart('-').All(char.IsAsciiDigit) && text.Length > 1
                    ? $"{flag} must be at most {int.MaxValue:N0}; got '{text}'"
                    : $"{flag} needs a whole number; got '{text}'");
            }
            switch (flag)
            {
                case "--config": config = Value(); break;
                case "--preset": preset = Value(); break;
                case "--rank": rank = Int(); break;
                case "--alpha":
                    alpha = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var a) && double.IsFinite(a) ? a
                        : throw new UsageException($"--alpha needs a finite number; got '{args[i]}'");
                    break;
                case "--targets": targets = Value(); break;
                case "--method":
                    method = Value() switch
                    {
                        "full" => TrainingMethod.Full,
                        "lora" => TrainingMethod.Lora,
                        "dora" => TrainingMethod.Dora,
                        "qlora" => TrainingMethod.Qlora,
                        var other => throw new UsageException($"--method must be full, lora, dora or qlora; got '{other}'"),
                    };
                    break;
                case "--batch": batch = Int(); break;
                case "--seq": seq = Int(); break;
                case "--precision":
                    precision = Value() switch
                    {
                        "mixed" => Precision.Mixed,
                        "fp32" => Precision.Fp32,
                        var other => throw new UsageException($"--precision must be mixed or fp32; got '{other}'"),
                    };
                    break;
                case "--format":
                    format = Value();
                    if (format is not ("text" or "json")) throw new UsageException($"--format must be text or json; got '{format}'");
                    break;
                case "--explain": explain = true; break;
                default: throw new UsageException($"unknown option '{flag}' for plan");
            }
        }
        if (!explain)
        {
            if ((config is null) == (preset is null)) throw new UsageException("plan needs exactly one of --config PATH or --preset NAME");
            if (method != TrainingMethod.Full)
            {
                if (rank < 1) throw new UsageException($"--rank must be at least 1 for {method.ToString().ToLowerInvariant()}; got {rank}");
                if (targets is null) throw new UsageException("--targets is required (a list such as q_proj,v_proj, or all-linear)");
            }
            if (batch < 1) throw new UsageException($"--batch must be at least 1; got {batch}");
            if (seq < 1) throw new UsageException($"--seq must be at least 1; got {seq}");
            if (alpha is <= 0) throw new UsageException($"--alpha must be positive; got {alpha}");
        }
        var list = targets is null ? [] : targets.Split(',').Select(t => t.Trim()).ToArray();
        return new PlanOptions(config, preset, rank, alpha, list, method, batch, seq, precision, format == "json", explain);
    }

    public PlanRequest ToRequest(ModelConfig model) =>
        new(model, Method, Rank, Alpha ?? 2.0 * Rank, Targets, Batch, Sequence, Precision);
}
