namespace LoraGen.Models.Data;

/// <summary>Training data that cannot be used: the message names the file, the line and the field at fault.</summary>
public sealed class DataException(string message) : Exception(message)
{
    public static DataException At(string file, int line, string problem) => new($"{file}:{line}: {problem}");
}
