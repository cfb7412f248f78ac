using System.Globalization;
using static TorchSharp.torch;

namespace LoraGen.Planning;

/// <summary>Trainable and total parameter counts, printed exactly as peft's <c>print_trainable_parameters</c>.</summary>
public readonly record struct ParameterSummary(long Trainable, long All)
{
    /// <summary>
    /// Counts the parameters of a module tree; trainable means <c>requires_grad</c>. A uint8 parameter holds
    /// packed 4-bit weights (Nf4Linear) and counts two per byte, as peft counts bitsandbytes' Params4bit.
    /// </summary>
    public static ParameterSummary Of(nn.Module module)
    {
        long trainable = 0, all = 0;
        foreach (var (_, parameter) in module.named_parameters())
        {
            long count = parameter.dtype == ScalarType.Byte ? 2 * parameter.numel() : parameter.numel();
            all += count;
            if (parameter.requires_grad) trainable += count;
        }
        return new ParameterSummary(trainable, all);
    }

    public double TrainablePercent => All == 0 ? 0 : 100.0 * Trainable / All;

    /// <summary><c>trainable params: 65,536 || all params: 16,842,752 || trainable%: 0.3891</c></summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"trainable params: {Trainable:N0} || all params: {All:N0} || trainable%: {TrainablePercent:F4}");
}
