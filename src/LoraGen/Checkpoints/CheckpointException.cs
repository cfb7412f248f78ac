namespace LoraGen.Checkpoints;

/// <summary>A checkpoint that cannot be read or does not fit: the message names the file and, where one is at fault, the tensor.</summary>
public sealed class CheckpointException(string message) : Exception(message)
{
    public static CheckpointException For(string file, string problem) => new($"{file}: {problem}");

    public static CheckpointException For(string file, string tensor, string problem) => new($"{file}: tensor '{tensor}': {problem}");

    /// <summary>A refusal of what the file describes, with .NET's " (Parameter 'x')" suffix left off: the file is what the user must fix.</summary>
    public static CheckpointException For(string file, ArgumentException refusal) =>
        For(file, refusal.ParamName is null ? refusal.Message : refusal.Message.Replace($" (Parameter '{refusal.ParamName}')", "", StringComparison.Ordinal));
}
