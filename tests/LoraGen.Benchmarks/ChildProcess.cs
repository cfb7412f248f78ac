using System.Diagnostics;
using System.Globalization;

namespace LoraGen.Benchmarks;

/// <summary>This benchmark program run again with other arguments: a process of its own, so its own peak memory.</summary>
internal static class ChildProcess
{
    /// <summary>Runs the child and returns the values it printed as NAME=VALUE lines.</summary>
    public static IReadOnlyDictionary<string, string> Run(params string[] arguments)
    {
        string joined = string.Join(' ', arguments);
        var start = new ProcessStartInfo(Environment.ProcessPath!, $"{Environment.GetCommandLineArgs()[0]} {joined}")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (!Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal))
            start.Arguments = joined;                        // an apphost: no dll argument
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"benchmark child '{joined}' exited with {process.ExitCode}:\n{output}");
        return output.Split('\n').Select(l => l.Trim().Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
    }

    public static long Long(IReadOnlyDictionary<string, string> values, string name) =>
        values.TryGetValue(name, out var value) ? long.Parse(value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"benchmark child printed no {name}");
}
