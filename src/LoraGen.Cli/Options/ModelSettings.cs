using System.ComponentModel;
using LoraGen.Checkpoints;
using LoraGen.Devices;
using LoraGen.Models.Loading;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Options;

/// <summary>The options every command that loads a Hugging Face model shares: the folder, an adapter, the device.</summary>
internal abstract class ModelSettings : CommandSettings
{
    [CommandOption("--model <DIR>"), Description("a Hugging Face model folder (config.json, safetensors, tokenizer)")]
    public string? Model { get; init; }

    [CommandOption("--adapter <DIR>"), Description("a peft adapter folder (adapter_config.json + adapter_model.safetensors)")]
    public string? Adapter { get; init; }

    [CommandOption("--device <DEVICE>"), Description(OptionValue.DeviceHelp)]
    public string? Device { get; init; }

    public override Spectre.Console.ValidationResult Validate()
    {
        if (Model is null) return Spectre.Console.ValidationResult.Error("--model DIR is required");
        if (!Directory.Exists(Model)) return Spectre.Console.ValidationResult.Error($"--model: '{Model}' is not a folder");
        if (Adapter is not null && !Directory.Exists(Adapter)) return Spectre.Console.ValidationResult.Error($"--adapter: '{Adapter}' is not a folder");
        try
        {
            _ = OptionValue.Device(Device);
        }
        catch (UsageException error)
        {
            return Spectre.Console.ValidationResult.Error(error.Message);
        }
        return Spectre.Console.ValidationResult.Success();
    }

    /// <summary>The model from --model (built on meta, weights read in fp32), with the --adapter loaded when given, on --device.</summary>
    public nn.Module<Tensor, Tensor> LoadModel()
    {
        var device = ComputeDevice.Resolve(Device ?? "auto");
        var model = HfModels.Load(Model!);
        try
        {
            if (Adapter is not null) PeftAdapter.Load(model, Adapter);
            model.to(device);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
