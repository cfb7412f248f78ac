using System.Text.Json;

namespace LoraGen.Cli.Serve;

/// <summary>
/// What `loragen serve` serves when no --model is given: the base and adapters the demo left in its report folder
/// (results.json names the base folder in the user's cache; the adapters are under adapters/, one folder each).
/// </summary>
internal static class DemoModels
{
    /// <summary>The demo's default --out, relative to the working folder as the demo wrote it.</summary>
    public const string ReportFolder = "loragen-demo";

    /// <summary><paramref name="options"/> with the demo's base as the model and its adapters added under their folder names.</summary>
    /// <exception cref="UsageException">No demo report here, or its base is gone: the message says how to get one.</exception>
    public static ServeOptions Find(string reportFolder, ServeOptions options)
    {
        string results = Path.Combine(reportFolder, "results.json");
        string? baseFolder = File.Exists(results) ? BaseFolder(results) : null;
        if (baseFolder is null || !Directory.Exists(baseFolder))
            throw new UsageException($"no --model given and no demo model in ./{reportFolder}: run `loragen demo` first, or pass --model DIR");
        string adapters = Path.Combine(reportFolder, "adapters");
        var found = Directory.Exists(adapters)
            ? Directory.GetDirectories(adapters).Where(d => File.Exists(Path.Combine(d, "adapter_config.json"))).Order(StringComparer.Ordinal)
                .Select(d => new KeyValuePair<string, string>(Path.GetFileName(d), Path.GetFullPath(d)))
            : [];
        return options with { Model = baseFolder, Adapters = [.. found.Where(a => options.Adapters.All(given => given.Key != a.Key)), .. options.Adapters] };
    }

    private static string? BaseFolder(string results)
    {
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllText(results));
            return json.RootElement.TryGetProperty("base", out var prepared) && prepared.TryGetProperty("folder", out var folder) && folder.ValueKind == JsonValueKind.String
                ? folder.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
