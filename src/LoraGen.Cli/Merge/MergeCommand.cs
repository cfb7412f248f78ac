using System.ComponentModel;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Cli.Options;
using LoraGen.Models.Loading;
using Spectre.Console.Cli;
using static TorchSharp.torch;

namespace LoraGen.Cli.Merge;

/// <summary>
/// `loragen merge`: a model folder with a peft adapter merged in, written as a plain Hugging Face folder (weights in
/// the layout the family's transformers class loads, config.json, tokenizer files), atomically: peft's merge_and_unload
/// followed by save_pretrained.
/// </summary>
internal sealed class MergeCommand : Command<MergeCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("--out <DIR>"), Description("the merged model's folder (replaced whole if it exists)")]
        public string? Out { get; init; }

        [CommandOption("--dtype <DTYPE>"), Description("bf16 (default), fp16 or fp32")]
        public string? Dtype { get; init; }

        public ScalarType ExportType => OptionValue.Choice("--dtype", Dtype, "bf16", "bf16", "fp16", "fp32") switch
        {
            "fp16" => ScalarType.Float16,
            "fp32" => ScalarType.Float32,
            _ => ScalarType.BFloat16,
        };

        public override Spectre.Console.ValidationResult Validate()
        {
            if (Adapter is null) return Spectre.Console.ValidationResult.Error("--adapter DIR is required (the adapter to merge)");
            if (Out is null) return Spectre.Console.ValidationResult.Error("--out DIR is required");
            try
            {
                _ = ExportType;
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
        using var model = settings.LoadModel();
        ModelAdapters.Merge(model);
        HfModels.SaveFolder(model, settings.Model!, settings.Out!, settings.ExportType);
        Console.WriteLine($"merged {ModelAdapters.Layers(model).Count} adapted layers of {settings.Adapter} into {settings.Model}; wrote {settings.Out}");
        return 0;
    }
}
