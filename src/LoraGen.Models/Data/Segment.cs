namespace LoraGen.Models.Data;

/// <summary>A piece of a training text, and whether the model learns to produce it (a completion, an assistant turn).</summary>
public sealed record Segment(string Text, bool Learned);

/// <summary>One line of a JSONL file as text pieces, with where it came from.</summary>
/// <param name="IsChat">Rendered from "messages": its chat format places its own begin and end tokens.</param>
public sealed record TrainingRecord(string File, int Line, IReadOnlyList<Segment> Segments, bool IsChat = false);
