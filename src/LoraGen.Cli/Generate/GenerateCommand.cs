using System.ComponentModel;
using LoraGen.Cli.Options;
using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Generation;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Generate;

/// <summary>`loragen generate`: text from a model folder (and a peft adapter), streamed token by token.</summary>
internal sealed class GenerateCommand : Command<GenerateCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("--prompt <TEXT>"), Description("the text to continue")]
        public string? Prompt { get; init; }

        [CommandOption("--max-new-tokens <N>"), Description("at most this many new tokens (default 64)")]
        public string? MaxNewTokens { get; init; }

        [CommandOption("--temperature <T>"), Description("0: greedy (default); above 0: sampling")]
        public string? Temperature { get; init; }

        [CommandOption("--top-p <P>"), Description("nucleus sampling mass, in (0, 1] (default 1)")]
        public string? TopP { get; init; }

        [CommandOption("--seed <S>"), Description("seeds the sampler (default 0)")]
        public string? Seed { get; init; }

        public GenerationOptions Read(IReadOnlyCollection<long>? endTokens)
        {
            var options = new GenerationOptions(OptionValue.Int("--max-new-tokens", MaxNewTokens, 64, 1, 1_000_000), OptionValue.Real("--temperature", Temperature) ?? 0,
                OptionValue.Real("--top-p", TopP) ?? 1, OptionValue.Int("--seed", Seed, 0, int.MinValue), EndTokens: endTokens);
            if (options.Problem() is var (setting, problem))
                throw new UsageException($"{(setting == nameof(GenerationOptions.TopP) ? "--top-p" : "--temperature")} {problem}");   // --max-new-tokens is checked as it is read
            return options;
        }

        public override Spectre.Console.ValidationResult Validate()
        {
            if (Prompt is null) return Spectre.Console.ValidationResult.Error("--prompt TEXT is required");
            try
            {
                _ = Read(null);
            }
            catch (UsageException error)
            {
                return Spectre.Console.ValidationResult.Error(error.Message);
            }
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellation)
    {
        var encoder = TokenEncoder.FromFolder(settings.Model!);
        using var model = settings.LoadModel();
        if (model is not ICausalLanguageModel language) throw new UsageException($"--model: {model.GetName()} cannot generate");
        var prompt = (encoder.Bos is { } bos ? new long[] { bos } : []).Concat(encoder.Tokens(settings.Prompt!).Select(t => (long)t)).ToArray();
        var options = settings.Read(encoder.EndTokens);
        model.eval();

        Console.Write(Terminal.Prose(settings.Prompt!));
        var text = new IncrementalText(encoder);
        TextGeneration.Generate(language, prompt, options, token =>
        {
            if (!encoder.EndTokens.Contains(token)) Console.Write(Terminal.Prose(text.Add(token)));
        });
        Console.WriteLine(Terminal.Prose(text.Flush()));
        return 0;
    }
}
