namespace LoraGen.Cli.Serve;

/// <summary>
/// The folder runtime loading may read adapters from (--adapter-root). A requested path is taken relative to it, and
/// refused when it says "..", or when its real location (every symbolic link on the way followed, and every file in the
/// adapter folder) is outside the root: a client can name adapters, never read the server's other files.
/// </summary>
internal sealed class AdapterRoot
{
    private const int MaxLinks = 40;   // as Linux's ELOOP limit: a cycle of links ends here
    private readonly string _real;

    public AdapterRoot(string folder) => _real = RealPath(Path.GetFullPath(folder));

    /// <summary>The adapter folder's real path.</summary>
    /// <exception cref="OpenAiError">403 for a path outside the root, 404 for a folder that does not exist.</exception>
    public string Resolve(string requested)
    {
        if (requested.Split('/', '\\').Contains(".."))
            throw Outside(requested, "'..' is not allowed");
        string real = RealPath(Path.GetFullPath(Path.Combine(_real, requested)));
        if (!Inside(real)) throw Outside(requested, "it is outside the adapter root");
        if (!Directory.Exists(real)) throw new OpenAiError(404, $"no adapter folder at '{requested}' below the adapter root", "lora_path");
        foreach (string entry in Directory.EnumerateFileSystemEntries(real))
            if (!Inside(RealPath(entry))) throw Outside(requested, $"{Path.GetFileName(entry)} links outside the adapter root");
        return real;
    }

    private bool Inside(string real) => real == _real || real.StartsWith(_real.EndsWith(Path.DirectorySeparatorChar) ? _real : _real + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static OpenAiError Outside(string requested, string why) =>
        new(403, $"adapters load only from below --adapter-root; '{requested}' is refused: {why}", "lora_path");

    /// <summary><paramref name="full"/> with every symbolic link along it replaced by its target (realpath(3), also for paths that do not exist yet).</summary>
    private static string RealPath(string full)
    {
        for (int links = 0; ; links++)
        {
            string root = Path.GetPathRoot(full)!, resolved = root;
            string[] parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            int i = 0;
            for (; i < parts.Length; i++)
            {
                string next = Path.Combine(resolved, parts[i]);
                if (new FileInfo(next).LinkTarget is not { } target) { resolved = next; continue; }
                // A link: start again from its target (relative to the link's folder) followed by the rest of the path.
                full = Path.GetFullPath(Path.Combine([Path.GetFullPath(target, resolved), .. parts[(i + 1)..]]));
                break;
            }
            if (i == parts.Length) return resolved;
            if (links == MaxLinks) throw new OpenAiError(403, "too many symbolic links in the adapter path", "lora_path");
        }
    }
}
