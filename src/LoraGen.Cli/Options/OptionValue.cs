using System.Globalization;

namespace LoraGen.Cli.Options;

/// <summary>
/// Option values read from their text, one rule per kind, so every command words a bad value the same way
/// (a <see cref="UsageException"/>: exit code 2, one line naming the option and the value).
/// </summary>
internal static class OptionValue
{
    /// <summary>A whole number; null when the option was not given.</summary>
    public static int? Int(string option, string? text)
    {
        if (text is null) return null;
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) return n;
        throw new UsageException(long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) || text.TrimStart('-').All(char.IsAsciiDigit) && text.Length > 1
            ? $"{option} must be at most {int.MaxValue:N0}; got '{text}'"
            : $"{option} needs a whole number; got '{text}'");
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static int Int(string option, string? text, int fallback, int min, int max = int.MaxValue)
    {
        int value = Int(option, text) ?? fallback;
        if (value < min) throw new UsageException($"{option} must be at least {min:N0}; got {value}");
        if (value > max) throw new UsageException($"{option} must be at most {max:N0}; got {value}");
        return value;
    }

    /// <summary>A positive byte count, plain or with a binary suffix (512M, 2G: powers of 1024); null when the option was not given.</summary>
    public static long? Bytes(string option, string? text)
    {
        if (text is null) return null;
        int shift = text.Length > 1 ? char.ToUpperInvariant(text[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 } : 0;
        string digits = shift == 0 ? text : text[..^1];
        if (!digits.All(char.IsAsciiDigit) || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long count) || count == 0)
            throw new UsageException($"{option} needs a positive number of bytes, e.g. 536870912 or 512M; got '{text}'");
        return count <= long.MaxValue >> shift ? count << shift : throw new UsageException($"{option} is too large; got '{text}'");
    }

    /// <summary>A finite number; null when the option was not given.</summary>
    public static double? Real(string option, string? text) =>
        text is null ? null
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value
        : throw new UsageException($"{option} needs a finite number; got '{text}'");

    public const string DeviceHelp = "auto, cpu or cuda (default auto: CUDA when available)";

    /// <summary>--device: auto (CUDA when available), cpu or cuda; every command that computes takes it.</summary>
    public static string Device(string? text) => Choice("--device", text, "auto", "auto", "cpu", "cuda");

    /// <summary>One of <paramref name="choices"/>, spelled as listed.</summary>
    public static string Choice(string option, string? text, string fallback, params string[] choices)
    {
        string value = text ?? fallback;
        return choices.Contains(value) ? value
            : throw new UsageException($"{option} must be {string.Join(", ", choices[..^1])} or {choices[^1]}; got '{value}'");
    }
}
