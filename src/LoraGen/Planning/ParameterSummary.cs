using System.Globalization;
using LoraGen.Quantization;
using static TorchSharp.torch;

namespace LoraGen.Planning;

/// <summary>Trainable and total parameter counts, printed exactly as peft's <c>print_trainable_parameters</c>.</summary>
public readonly record struct ParameterSummary(long Trainable, long All)
{
    /// <summary>
    /// Counts the parameters of a module tree; trainable means <c>requires_grad</c>. The packed weight of an
    /// <see cref="FourBitLinear"/> holds two 4-bit values per byte and counts twice, as peft counts bitsandbytes' Params4bit.
    /// </summary>
    public static ParameterSummary Of(nn.Module module)
    {
        var packed = new HashSet<Tensor>(module.modules().Prepend(module).OfType<FourBitLinear>().Select(q => (Tensor)q.Weight.Packed),
            ReferenceEqualityComparer.Instance);
        long trainable = 0, all = 0;
        foreach (var (_, parameter) in module.named_parameters())
        {
            long count = packed.Contains(parameter) ? 2 * parameter.numel() : parameter.numel();
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
