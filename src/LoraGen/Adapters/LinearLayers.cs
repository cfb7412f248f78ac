using LoraGen.Layers;
using LoraGen.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Adapters;

/// <summary>What can carry an adapter (a dense or 4-bit Linear, or one already adapted), and the parameter names biases have.</summary>
internal static class LinearLayers
{
    public static bool IsAdaptable(nn.Module module) => module is Linear or FourBitLinear or LoraLinear;

    public static void CheckAdaptable(nn.Module model, string path, nn.Module module)
    {
        if (!IsAdaptable(module))
            throw new InvalidOperationException($"LoRA target '{path}' of {model.GetName()} holds a {module.GetType().Name}; only Linear layers (dense or 4-bit) can be adapted.");
    }

    /// <summary>(in, out) of an adaptable layer.</summary>
    public static (long In, long Out) Size(nn.Module module) => module switch
    {
        LoraLinear l => (l.InFeatures, l.OutFeatures),
        Linear l => (l.in_features, l.out_features),
        FourBitLinear l => (l.InFeatures, l.OutFeatures),
        _ => throw new ArgumentException($"{module.GetType().Name} '{module.GetName()}' is not a Linear layer", nameof(module)),
    };

    /// <summary>A parameter name that peft's bias modes count as a bias.</summary>
    public static bool IsBias(string parameterName) => parameterName == "bias" || parameterName.EndsWith(".bias", StringComparison.Ordinal);
}
