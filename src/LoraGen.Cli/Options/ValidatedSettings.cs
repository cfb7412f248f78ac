using Spectre.Console;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Options;

/// <summary>
/// Settings whose typed form is read once, when Spectre validates them: a bad value stops the command before it
/// starts, with the one-line message of <see cref="OptionValue"/>.
/// </summary>
internal abstract class ValidatedSettings<T> : CommandSettings where T : class
{
    private T? _options;

    /// <summary>The typed options (throws <see cref="UsageException"/> on a bad value).</summary>
    public T Options => _options ??= Read();

    protected abstract T Read();

    public override ValidationResult Validate()
    {
        try
        {
            _ = Options;
            return ValidationResult.Success();
        }
        catch (UsageException error)
        {
            return ValidationResult.Error(error.Message);
        }
    }
}
