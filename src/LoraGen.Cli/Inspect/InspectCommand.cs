using System.Globalization;
using LoraGen.Checkpoints;
using Spectre.Console;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Inspect;

/// <summary>
/// `loragen inspect PATH`: the tensors (name, dtype, shape, bytes) of a safetensors file, a (sharded)
/// checkpoint folder or a peft adapter folder (with its config). A bad file is reported with the file and
/// tensor at fault and exit code 2.
/// </summary>
internal sealed class InspectCommand : Command<InspectCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<PATH>"), System.ComponentModel.Description("a .safetensors file, a checkpoint folder or a peft adapter folder")]
        public string InputPath { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation) => Run(settings.InputPath);

    private static int Run(string path)
    {
        if (Directory.Exists(path))
        {
            string adapterConfig = Path.Combine(path, PeftAdapter.ConfigFile);
            if (File.Exists(adapterConfig))
            {
                var config = AdapterConfigFile.Read(adapterConfig);
                Describe(config);
                using var adapter = SafetensorsFile.Open(Path.Combine(path, PeftAdapter.WeightsFile));
                Write([adapter]);
                CheckRanks(config, adapter);
                return 0;
            }
            using var checkpoint = ShardedCheckpoint.Open(path);
            Write(checkpoint.Files);
            return 0;
        }
        if (Path.GetExtension(path).ToLowerInvariant() is ".bin" or ".pt" or ".pth" or ".ckpt" or ".pkl")
            throw CheckpointException.For(path, "pickle checkpoints (.bin/.pt) can run arbitrary code when loaded and are refused; convert them to safetensors");
        using var file = SafetensorsFile.Open(path);
        Write([file]);
        return 0;
    }

    /// <summary>Each lora_A / lora_B has the rank its config gives its layer (r, or rank_pattern) and a floating dtype.</summary>
    private static void CheckRanks(Adapters.PeftLoraConfig config, SafetensorsFile file)
    {
        foreach (var entry in file.Entries)
        {
            var part = entry.Name.EndsWith(".lora_A.weight", StringComparison.Ordinal) ? "lora_A" : entry.Name.EndsWith(".lora_B.weight", StringComparison.Ordinal) ? "lora_B" : null;
            if (part is null) continue;
            if (!entry.Name.StartsWith(PeftAdapter.KeyPrefix, StringComparison.Ordinal))
                throw CheckpointException.For(file.Path, entry.Name, $"is not under peft's '{PeftAdapter.KeyPrefix}' prefix");
            string path = entry.Name[PeftAdapter.KeyPrefix.Length..^(part.Length + ".weight".Length + 1)];
            int rank = config.LayerConfigFor(path).R;
            long actual = entry.Shape.Length == 2 ? (part == "lora_A" ? entry.Shape[0] : entry.Shape[1]) : -1;
            if (actual != rank)
                throw CheckpointException.For(file.Path, entry.Name, $"has rank {actual} ([{string.Join(", ", entry.Shape)}]) but adapter_config.json gives '{path}' r={rank}");
            PeftAdapter.CheckDtype(file.Path, entry);
        }
    }

    /// <summary>The adapter's configuration as peft names its fields.</summary>
    private static void Describe(Adapters.PeftLoraConfig config)
    {
        static void WriteLine(string line) => Console.WriteLine(Terminal.Printable(line));
        string Number(double value) => value.ToString(CultureInfo.InvariantCulture);
        string Patterns<T>(IReadOnlyDictionary<string, T> patterns) =>
            patterns.Count == 0 ? "{}" : "{" + string.Join(", ", patterns.Select(p => $"{p.Key}: {Convert.ToString(p.Value, CultureInfo.InvariantCulture)}")) + "}";
        WriteLine("peft adapter (adapter_config.json):");
        WriteLine($"  r = {config.R}, lora_alpha = {Number(config.LoraAlpha)}, lora_dropout = {Number(config.LoraDropout)}, bias = {config.Bias}");
        WriteLine($"  target_modules = {config.TargetModules}" + (config.ExcludeModules is { } ex ? $", exclude_modules = {ex}" : ""));
        WriteLine($"  rank_pattern = {Patterns(config.RankPattern)}, alpha_pattern = {Patterns(config.AlphaPattern)}");
        if (config.LayersToTransform is { } layers)
            WriteLine($"  layers_to_transform = [{string.Join(", ", layers)}]" + (config.LayersPattern is { } lp ? $", layers_pattern = [{string.Join(", ", lp)}]" : ""));
        WriteLine($"  use_dora = {config.UseDora}, use_rslora = {config.UseRsLora}, init_lora_weights = {config.InitLoraWeights}, fan_in_fan_out = {config.FanInFanOut}");
        WriteLine($"  modules_to_save = {(config.ModulesToSave is { } saved ? "[" + string.Join(", ", saved) + "]" : "none")}");
        if (config.BaseModelNameOrPath is { } baseModel) WriteLine($"  base_model_name_or_path = {baseModel}");
    }

    private static void Write(IReadOnlyList<SafetensorsFile> files)
    {
        var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
        if (files.Count > 1) table.AddColumn("file");
        long total = 0;
        foreach (var file in files)
            foreach (var entry in file.Entries)
            {
                var cells = new List<string> { Markup.Escape(Terminal.Printable(entry.Name)), Markup.Escape(Terminal.Printable(entry.DType)), Markup.Escape("[" + string.Join(", ", entry.Shape) + "]"), entry.Bytes.ToString("N0", CultureInfo.InvariantCulture) };
                if (files.Count > 1) cells.Add(Markup.Escape(Terminal.Printable(Path.GetFileName(file.Path))));
                table.AddRow(cells.ToArray());
                total += entry.Bytes;
            }
        AnsiConsole.Write(table);
        int count = files.Sum(f => f.Entries.Count);
        Console.WriteLine($"{count} tensors, {total.ToString("N0", CultureInfo.InvariantCulture)} bytes in {files.Count} file(s)");
        foreach (var file in files.Where(f => f.Metadata.Count > 0))
            Console.WriteLine(Terminal.Printable($"{Path.GetFileName(file.Path)} metadata: {string.Join(", ", file.Metadata.Select(m => $"{m.Key}={m.Value}"))}"));
    }
}
