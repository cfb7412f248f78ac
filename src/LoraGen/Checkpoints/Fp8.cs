using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// The two 8-bit float formats of safetensors (F8_E4M3 and F8_E5M2, as in OCP's FP8 spec and PyTorch's float8_e4m3fn
/// and float8_e5m2). TorchSharp 0.107 has no float8 type, so such tensors are read as bytes and upcast to fp32
/// through a 256-entry table.
/// </summary>
public static class Fp8
{
    /// <summary>E4M3FN: 4 exponent bits (bias 7), 3 mantissa bits, no infinities; S.1111.111 is NaN. Largest value 448.</summary>
    public static readonly float[] E4M3 = Table(exponentBits: 4, bias: 7, mantissaBits: 3, hasInfinity: false);

    /// <summary>E5M2: 5 exponent bits (bias 15), 2 mantissa bits, IEEE-style infinities and NaNs. Largest finite value 57,344.</summary>
    public static readonly float[] E5M2 = Table(exponentBits: 5, bias: 15, mantissaBits: 2, hasInfinity: true);

    /// <summary>The table for a safetensors dtype name, or null when it is not an FP8 one.</summary>
    public static float[]? For(string dtype) => dtype switch
    {
        "F8_E4M3" => E4M3,
        "F8_E5M2" => E5M2,
        _ => null,
    };

    /// <summary>(...) uint8 codes → (...) fp32 values.</summary>
    public static Tensor Decode(Tensor codes, float[] table)
    {
        using var lookup = tensor(table, device: codes.device);
        using var indices = codes.to(ScalarType.Int64);
        return lookup[indices];
    }

    private static float[] Table(int exponentBits, int bias, int mantissaBits, bool hasInfinity)
    {
        var values = new float[256];
        int maxExponent = (1 << exponentBits) - 1, mantissaMax = (1 << mantissaBits) - 1;
        for (int code = 0; code < 256; code++)
        {
            int sign = code >> 7, exponent = (code >> mantissaBits) & maxExponent, mantissa = code & mantissaMax;
            double value;
            if (hasInfinity && exponent == maxExponent) value = mantissa == 0 ? double.PositiveInfinity : double.NaN;
            else if (!hasInfinity && exponent == maxExponent && mantissa == mantissaMax) value = double.NaN;
            else if (exponent == 0) value = mantissa / (double)(1 << mantissaBits) * Math.Pow(2, 1 - bias);            // subnormal
            else value = (1 + mantissa / (double)(1 << mantissaBits)) * Math.Pow(2, exponent - bias);
            values[code] = (float)(sign == 1 ? -value : value);
        }
        return values;
    }
}
