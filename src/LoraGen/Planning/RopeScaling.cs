namespace LoraGen.Planning;

/// <summary>
/// config.json's <c>rope_scaling</c>, the kinds LoraGen computes as transformers does: <c>linear</c> (positions
/// divided by the factor) and <c>llama3</c> (Llama 3.1/3.2: low frequencies divided by the factor, high ones kept, a
/// smooth blend between). Others (dynamic, yarn, longrope, ...) are refused by name when the config is read.
/// </summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositions = 8192)
{
    public static readonly string[] SupportedTypes = ["linear", "llama3"];

    /// <summary>The rotary frequencies for <paramref name="theta"/> and <paramref name="headDim"/> (θ^(−2i/d), i &lt; d/2), scaled.</summary>
    public static double[] InverseFrequencies(double theta, long headDim, RopeScaling? scaling)
    {
        var inverse = new double[headDim / 2];
        for (int i = 0; i < inverse.Length; i++) inverse[i] = Math.Pow(theta, -2.0 * i / headDim);
        if (scaling is null) return inverse;
        for (int i = 0; i < inverse.Length; i++) inverse[i] = scaling.Scale(inverse[i]);
        return inverse;
    }

    private double Scale(double frequency)
    {
        if (Type == "linear") return frequency / Factor;
        // llama3: wavelengths longer than the original context / low_freq_factor are stretched by the factor,
        // shorter than original / high_freq_factor kept, and those between blended linearly in original / wavelength.
        double wavelength = 2 * Math.PI / frequency;
        double lowFreqWavelength = OriginalMaxPositions / LowFreqFactor, highFreqWavelength = OriginalMaxPositions / HighFreqFactor;
        if (wavelength < highFreqWavelength) return frequency;
        if (wavelength > lowFreqWavelength) return frequency / Factor;
        double smooth = (OriginalMaxPositions / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - smooth) * frequency / Factor + smooth * frequency;
    }
}
