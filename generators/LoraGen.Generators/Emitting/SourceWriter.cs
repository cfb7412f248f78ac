using System.Text;

namespace LoraGen.Generators.Emitting;

/// <summary>An indented text writer for generated C#: one line at a time, braces open and close blocks.</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _text = new(4096);
    private int _indent;

    public void Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', 4 * _indent).Append(line);
        _text.Append('\n');
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

    public override string ToString() => _text.ToString();
}
