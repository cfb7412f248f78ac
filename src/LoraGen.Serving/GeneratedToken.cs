namespace LoraGen.Serving;

/// <summary>One token a request produced; the last one carries why it ended: "stop" (an end token) or "length" (max tokens).</summary>
public readonly record struct GeneratedToken(long Id, string? FinishReason);
