// Compiled into the runtime and, as a linked file, into the source generator, so that compile-time
// target resolution and run-time injection match module paths by the very same rule.
namespace LoraGen.Injection;

/// <summary>
/// Module paths such as <c>layers.3.self_attn.q_proj</c> and the patterns the generator writes for them,
/// where a ModuleList index is <c>{i}</c> (<c>layers.{i}.self_attn.q_proj</c>).
/// </summary>
internal static class ModulePath
{
    public const string IndexSegment = "{i}";

    /// <summary>
    /// peft's rule for a target name in a list: the name equals the path, or the path ends with
    /// "." + name, compared segment by segment. A <c>{i}</c> segment on either side matches any index.
    /// </summary>
    public static bool Matches(string path, string name)
    {
        var pathSegments = path.Split('.');
        var nameSegments = name.Split('.');
        if (nameSegments.Length > pathSegments.Length) return false;
        int offset = pathSegments.Length - nameSegments.Length;
        for (int i = 0; i < nameSegments.Length; i++)
            if (!SegmentMatches(pathSegments[offset + i], nameSegments[i])) return false;
        return true;
    }

    private static bool SegmentMatches(string pathSegment, string nameSegment)
    {
        if (pathSegment == nameSegment) return true;
        if (pathSegment == IndexSegment) return IsIndex(nameSegment);
        if (nameSegment == IndexSegment) return IsIndex(pathSegment);
        return false;
    }

    private static bool IsIndex(string segment)
    {
        if (segment.Length == 0) return false;
        foreach (char c in segment)
            if (c < '0' || c > '9') return false;
        return true;
    }
}
