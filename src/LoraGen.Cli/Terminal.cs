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
    public static string Printable(string text)
    {
        if (!text.Any(IsUnsafe)) return text;
        var escaped = new StringBuilder(text.Length + 16);
        foreach (char c in text)
            escaped.Append(IsUnsafe(c) ? $"\\u{(int)c:X4}" : c);
        return escaped.ToString();
    }

    private static bool IsUnsafe(char c) =>
        char.IsControl(c) || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
}
