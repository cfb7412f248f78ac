using System.Diagnostics;
using System.Globalization;

namespace LoraGen.Benchmarks;

/// <summary>
/// Times several variants of one operation in the same run, interleaved round by round so that the
/// machine's drift (other load, frequency) hits each variant alike; reports medians and ratios.
/// </summary>
internal static class SideBySide
{
    public static double[] MedianMilliseconds(int warmup, int rounds, params Action[] variants)
    {
        foreach (var variant in variants)
            for (int i = 0; i < warmup; i++) variant();

        var samples = variants.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
            for (int v = 0; v < variants.Length; v++)
            {
                var clock = Stopwatch.StartNew();
                variants[v]();
                samples[v].Add(clock.Elapsed.TotalMilliseconds);
            }
        return samples.Select(s => s.Order().ElementAt(s.Count / 2)).ToArray();
    }

    public static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
