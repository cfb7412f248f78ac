using System.Text.Json;
using LoraGen.Checkpoints;

namespace LoraGen.Models.Data;

/// <summary>
/// Training data in JSON Lines, one example per line, in the three shapes trl's SFT trainer takes:
/// <c>{"text"}</c> (every token learned), <c>{"prompt", "completion"}</c> (the completion learned) and
/// <c>{"messages": [{"role", "content"}]}</c> (the assistant turns learned, laid out in the model's chat format).
/// Blank lines are skipped; anything else that is not one of these is an error naming the file, line and field.
/// </summary>
public static class JsonlRecords
{
    private static readonly HashSet<string> Roles = ["system", "user", "assistant"];

    /// <param name="chat">The model's chat format, for "messages" lines; null: such lines are refused.</param>
    public static List<TrainingRecord> Read(string path, ChatFormat? chat)
    {
        InputFile.Check(path);                                                         // no FIFOs, devices or missing files
        var records = new List<TrainingRecord>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var (segments, isChat) = Parse(line, path, number, chat);
            records.Add(new TrainingRecord(path, number, segments, isChat));
        }
        if (records.Count == 0) throw new DataException($"{path}: no examples (the file has no non-blank lines)");
        return records;
    }

    private static (IReadOnlyList<Segment> Segments, bool IsChat) Parse(string line, string path, int number, ChatFormat? chat)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw DataException.At(path, number, $"not valid JSON ({e.Message.Split(" Path:")[0]})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw DataException.At(path, number, "each line must be a JSON object");
            string Text(JsonElement owner, string field, string where) =>
                owner.TryGetProperty(field, out var value) ? value.ValueKind == JsonValueKind.String ? value.GetString()!
                    : throw DataException.At(path, number, $"field '{where}' must be a string; got {value.ValueKind.ToString().ToLowerInvariant()}")
                : throw DataException.At(path, number, $"missing field '{where}'");

            if (root.TryGetProperty("messages", out var messages))
            {
                if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
                    throw DataException.At(path, number, "field 'messages' must be a non-empty array");
                if (chat is null) throw DataException.At(path, number, "field 'messages' needs the model's chat format, and none is known here");
                var turns = messages.EnumerateArray().Select((m, i) =>
                {
                    if (m.ValueKind != JsonValueKind.Object) throw DataException.At(path, number, $"field 'messages[{i}]' must be an object");
                    string role = Text(m, "role", $"messages[{i}].role");
                    if (!Roles.Contains(role)) throw DataException.At(path, number, $"field 'messages[{i}].role' must be system, user or assistant; got '{role}'");
                    return new ChatMessage(role, Text(m, "content", $"messages[{i}].content"));
                }).ToArray();
                if (!turns.Any(t => t.Role == "assistant")) throw DataException.At(path, number, "field 'messages' has no assistant turn to learn");
                return (chat.Render(turns), true);
            }
            if (root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _))
                return ([new Segment(Text(root, "prompt", "prompt"), false), new Segment(Text(root, "completion", "completion"), true)], false);
            if (root.TryGetProperty("text", out _)) return ([new Segment(Text(root, "text", "text"), true)], false);
            throw DataException.At(path, number, "expected a field 'text', 'prompt' and 'completion', or 'messages'");
        }
    }
}
