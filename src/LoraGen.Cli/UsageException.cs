namespace LoraGen.Cli;

/// <summary>A mistake in the command line (exit code 2), as opposed to a failure of the run itself.</summary>
internal sealed class UsageException(string message) : Exception(message);
