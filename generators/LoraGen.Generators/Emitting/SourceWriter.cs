using System.Runtime.CompilerServices;
using System.Text;

namespace LoraGen.Generators.Emitting;

/// <summary>An indented text writer for generated C#: one line at a time, braces open and close blocks.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text;
    private int _indent;

    // One builder per thread, reused: a file is ~10 KB, and a run of the generator writes one per module class.
    [System.ThreadStatic] private static StringBuilder? _spare;

    public SourceWriter(int indent = 0)
    {
        _indent = indent;
        _text = _spare ?? new StringBuilder(16384);
        _spare = null;
        _text.Clear();
    }

    public int Indent => _indent;

    /// <summary>Text another writer produced at this writer's indentation (a cached block).</summary>
    public void Raw(string text) => _text.Append(text);

    public void Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', 4 * _indent).Append(line);
        _text.Append('\n');
    }

    /// <summary>An interpolated line, written piece by piece into the file: no string per line.</summary>
    public void Line([InterpolatedStringHandlerArgument("")] ref LineHandler line) => _text.Append('\n');

    /// <summary>Starts the line at the writer's indentation, then appends each part of the interpolated string.</summary>
    [InterpolatedStringHandler]
    public readonly ref struct LineHandler
    {
        private readonly StringBuilder _text;

        public LineHandler(int literalLength, int formattedCount, SourceWriter writer)
        {
            _text = writer._text;
            _text.Append(' ', 4 * writer._indent);
        }

        public void AppendLiteral(string text) => _text.Append(text);
        public void AppendFormatted(string? text) => _text.Append(text);
        public void AppendFormatted(int value) => _text.Append(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    public void Open(string header)
    {
        Line(header);
        Line("{");
        _indent++;
    }

    public void Close(string closing = "}")
    {
        _indent--;
        Line(closing);
    }

    /// <summary>The text written; the writer is done then, and its builder goes back for the next file.</summary>
    public override string ToString()
    {
        string text = _text.ToString();
        _spare = _text;
        return text;
    }
}
