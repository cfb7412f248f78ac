namespace LoraGen.Quantization;

/// <summary>The value each 4-bit code stands for, in [-1, 1], scaled by the block's absmax.</summary>
public static class FourBitCodebook
{
    /// <summary>
    /// NF4 exactly as bitsandbytes publishes it (functional.py, get_4bit_type): code i means Nf4[i].
    /// Asymmetric: 7 negative values, an exact 0, 8 positive values.
    /// </summary>
    public static readonly float[] Nf4 =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>
    /// FP4 (e2m1, bias 2) in bitsandbytes' bit-pattern order, divided by its largest value 12:
    /// raw values 0, 0.0625, 8, 12, 4, 6, 2, 3 and their negatives.
    /// </summary>
    public static readonly float[] Fp4 =
    [
        0f, 0.0625f / 12, 8f / 12, 1f, 4f / 12, 6f / 12, 2f / 12, 3f / 12,
        -0f, -0.0625f / 12, -8f / 12, -1f, -4f / 12, -6f / 12, -2f / 12, -3f / 12,
    ];

    public static float[] For(QuantType type) => type switch
    {
        QuantType.Nf4 => Nf4,
        QuantType.Fp4 => Fp4,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown 4-bit type"),
    };
}
