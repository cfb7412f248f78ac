namespace LoraGen.Quantization;

/// <summary>The 4-bit data types of QLoRA (Dettmers et al. 2023), with bitsandbytes' code tables.</summary>
public enum QuantType
{
    /// <summary>NormalFloat: the 16 values are equal-mass quantiles of N(0, 1), so normally distributed weights use every code equally.</summary>
    Nf4,

    /// <summary>4-bit float: 1 sign, 2 exponent, 1 mantissa bit.</summary>
    Fp4,
}
