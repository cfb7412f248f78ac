namespace LoraGen.Adapters;

/// <summary>Module names nearest to one that matched nothing, for messages (peft lists the targets; we add suggestions).</summary>
internal static class ModuleNames
{
    /// <summary>Up to three of <paramref name="candidates"/> closest to <paramref name="name"/> by edit distance, full paths and last segments both considered.</summary>
    public static string Nearest(string name, IEnumerable<string> candidates)
    {
        var ranked = candidates
            .SelectMany(c => new[] { c, c[(c.LastIndexOf('.') + 1)..] })
            .Distinct()
            .OrderBy(c => Distance(name, c)).ThenBy(c => c, StringComparer.Ordinal)
            .Take(3)
            .ToArray();
        return ranked.Length == 0 ? "(the model has no modules)" : string.Join(", ", ranked.Select(c => $"'{c}'"));
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
