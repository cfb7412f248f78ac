using System.Globalization;
using System.Text;

namespace LoraGen.Cli;

/// <summary>Text from files and arguments on its way to a terminal.</summary>
internal static class Terminal
{
    /// <summary>
    /// <paramref name="text"/> with every control or format character (escape sequences, newlines, NUL, bidi
    /// overrides) written as \uXXXX, so a name from a file cannot move the cursor, recolour the terminal or fake a row.
    /// </summary>
    public static string Printable(string text) => Escaped(text, keepLines: false);

    /// <summary>Generated text: line breaks and tabs kept, every other control or format character escaped.</summary>
    public static string Prose(string text) => Escaped(text, keepLines: true);

    private static string Escaped(string text, bool keepLines)
    {
        bool Unsafe(char c) => IsUnsafe(c) && !(keepLines && c is '\n' or '\t');
        if (!text.Any(Unsafe)) return text;
        var escaped = new StringBuilder(text.Length + 16);
        foreach (char c in text)
            escaped.Append(Unsafe(c) ? $"\\u{(int)c:X4}" : c);
        return escaped.ToString();
    }

    private static bool IsUnsafe(char c) =>
        char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
}
