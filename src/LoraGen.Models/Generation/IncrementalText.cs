using LoraGen.Models.Data;

namespace LoraGen.Models.Generation;

/// <summary>
/// Text of a completion as its tokens arrive. Each step decodes all the tokens so far (merges across tokens stay
/// right) and gives the new suffix; a trailing U+FFFD (a UTF-8 character whose remaining bytes are in tokens not
/// chosen yet) is held back until it completes, or until <see cref="Flush"/>.
/// </summary>
public sealed class IncrementalText(TokenEncoder encoder)
{
    private readonly List<long> _ids = new();
    private string _shown = "";

    /// <summary>The whole text given so far.</summary>
    public string Text => _shown;

    /// <returns>The text this token adds; empty while it ends in half a character.</returns>
    public string Add(long id)
    {
        _ids.Add(id);
        string text = encoder.Decode(_ids);
        return Advance(text, text.TrimEnd('\uFFFD').Length);
    }

    /// <summary>The rest, held-back replacement characters included: the completion has ended.</summary>
    public string Flush()
    {
        string text = encoder.Decode(_ids);
        return Advance(text, text.Length);
    }

    private string Advance(string text, int end)
    {
        if (end <= _shown.Length || !text.StartsWith(_shown, StringComparison.Ordinal)) return "";   // text already given is never taken back
        string piece = text[_shown.Length..end];
        _shown = text[..end];
        return piece;
    }
}
