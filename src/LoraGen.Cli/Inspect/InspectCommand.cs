using System.Globalization;
using LoraGen.Checkpoints;
using Spectre.Console;

namespace LoraGen.Cli.Inspect;

/// <summary>
/// `loragen inspect PATH`: the tensors (name, dtype, shape, bytes) of a safetensors file, a (sharded)
/// checkpoint folder or a peft adapter folder (with its config). A bad file is reported with the file and
/// tensor at fault and exit code 2.
/// </summary>
internal static class InspectCommand
{
    public static int Run(string[] args)
    {
        if (args.Length != 1) throw new UsageException("inspect needs exactly one PATH (a .safetensors file or a folder)");
        string path = args[0];
        if (Directory.Exists(path))
        {
            string adapterConfig = Path.Combine(path, PeftAdapter.ConfigFile);
            if (File.Exists(adapterConfig))
            {
                var config = PeftAdapter.ReadConfig(adapterConfig);
                Console.WriteLine($"peft adapter: r={config.R}, lora_alpha={config.Alpha.ToString(CultureInfo.InvariantCulture)}, use_dora={config.UseDora}, use_rslora={config.UseRsLora}" +
                                  (config.RankPattern.Count > 0 ? $", rank_pattern for {config.RankPattern.Count} modules" : ""));
                using var adapter = SafetensorsFile.Open(Path.Combine(path, PeftAdapter.WeightsFile));
                Write([adapter]);
                return 0;
            }
            using var checkpoint = ShardedCheckpoint.Open(path);
            Write(checkpoint.Files);
            return 0;
        }
        using var file = SafetensorsFile.Open(path);
        Write([file]);
        return 0;
    }

    private static void Write(IReadOnlyList<SafetensorsFile> files)
    {
        var table = new Table().AddColumns("tensor", "dtype", "shape", "bytes");
        if (files.Count > 1) table.AddColumn("file");
        long total = 0;
        foreach (var file in files)
            foreach (var entry in file.Entries)
            {
                var cells = new List<string> { Markup.Escape(entry.Name), entry.DType, Markup.Escape("[" + string.Join(", ", entry.Shape) + "]"), entry.Bytes.ToString("N0", CultureInfo.InvariantCulture) };
                if (files.Count > 1) cells.Add(Markup.Escape(Path.GetFileName(file.Path)));
                table.AddRow(cells.ToArray());
                total += entry.Bytes;
            }
        AnsiConsole.Write(table);
        int count = files.Sum(f => f.Entries.Count);
        Console.WriteLine($"{count} tensors, {total.ToString("N0", CultureInfo.InvariantCulture)} bytes in {files.Count} file(s)");
        foreach (var file in files.Where(f => f.Metadata.Count > 0))
            Console.WriteLine($"{Path.GetFileName(file.Path)} metadata: {string.Join(", ", file.Metadata.Select(m => $"{m.Key}={m.Value}"))}");
    }
}
