namespace LoraGen.Planning;

/// <summary>Bad planner input: names the file, field or argument and the value. The CLI exits with code 2.</summary>
public sealed class PlanException(string message) : Exception(message);
