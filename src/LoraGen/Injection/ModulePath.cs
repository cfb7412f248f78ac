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
        // Segment by segment from the right, without splitting: the generator asks this for every layer and name.
        int pathEnd = path.Length, nameEnd = name.Length;
        while (true)
        {
            int pathStart = SegmentStart(path, pathEnd), nameStart = SegmentStart(name, nameEnd);
            if (!SegmentMatches(path, pathStart, pathEnd - pathStart, name, nameStart, nameEnd - nameStart)) return false;
            if (nameStart == 0) return true;        // every segment of the name matched
            if (pathStart == 0) return false;       // the name has more segments than the path
            pathEnd = pathStart - 1;
            nameEnd = nameStart - 1;
        }
    }

    /// <summary>Where the segment that ends at <paramref name="end"/> (exclusive) starts.</summary>
    private static int SegmentStart(string text, int end)
    {
        int start = end;
        while (start > 0 && text[start - 1] != '.') start--;
        return start;
    }

    private static bool SegmentMatches(string path, int pathStart, int pathLength, string name, int nameStart, int nameLength)
    {
        if (pathLength == nameLength && string.CompareOrdinal(path, pathStart, name, nameStart, pathLength) == 0) return true;
        if (IsIndexSegment(path, pathStart, pathLength)) return IsIndex(name, nameStart, nameLength);
        if (IsIndexSegment(name, nameStart, nameLength)) return IsIndex(path, pathStart, pathLength);
        return false;
    }

    private static bool IsIndexSegment(string text, int start, int length) =>
        length == IndexSegment.Length && string.CompareOrdinal(text, start, IndexSegment, 0, length) == 0;

    private static bool IsIndex(string text, int start, int length)
    {
        if (length == 0) return false;
        for (int i = start; i < start + length; i++)
            if (text[i] < '0' || text[i] > '9') return false;
        return true;
    }
}
