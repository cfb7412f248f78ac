namespace LoraGen.Planning;

/// <summary>
/// config.json's <c>rope_scaling</c>, computed as transformers computes it: <c>linear</c> (positions divided by the
/// factor), <c>dynamic</c> (NTK: the base grows once a sequence passes max_position_embeddings), <c>llama3</c>
/// (Llama 3.1/3.2: low frequencies divided by the factor, high ones kept, a smooth blend between) and <c>yarn</c>
/// (interpolated and extrapolated frequencies blended over a ramp, cos and sin scaled by the attention factor).
/// Other kinds (longrope, ...) are refused by name when the config is read.
/// </summary>
/// <param name="OriginalMaxPositions">llama3 and yarn: the context the model was trained on; dynamic: max_position_embeddings.</param>
/// <param name="AttentionFactorOverride">yarn's attention_factor when the config gives it; else 0.1·ln(factor) + 1.</param>
public sealed record RopeScaling(
    string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositions = 8192,
    double BetaFast = 32, double BetaSlow = 1, double? AttentionFactorOverride = null)
{
    public static readonly string[] SupportedTypes = ["linear", "dynamic", "llama3", "yarn"];

    /// <summary>What cos and sin are multiplied by: yarn's attention factor, 1 otherwise.</summary>
    public double AttentionFactor => Type != "yarn" ? 1 : AttentionFactorOverride ?? (Factor <= 1 ? 1 : 0.1 * Math.Log(Factor) + 1);

    /// <summary>
    /// The rotary frequencies for <paramref name="theta"/> and <paramref name="headDim"/> (θ^(−2i/d), i &lt; d/2), scaled;
    /// <paramref name="sequence"/> is the length the tables cover (dynamic scaling depends on it).
    /// </summary>
    public static double[] InverseFrequencies(double theta, long headDim, RopeScaling? scaling, long sequence = 0)
    {
        if (scaling is { Type: "dynamic" } && sequence > scaling.OriginalMaxPositions)
        {
            double length = sequence, max = scaling.OriginalMaxPositions, factor = scaling.Factor;
            theta *= Math.Pow(factor * length / max - (factor - 1), headDim / (headDim - 2.0));
        }
        var inverse = new double[headDim / 2];
        for (int i = 0; i < inverse.Length; i++) inverse[i] = Math.Pow(theta, -2.0 * i / headDim);
        switch (scaling?.Type)
        {
            case "linear":
                for (int i = 0; i < inverse.Length; i++) inverse[i] /= scaling.Factor;
                break;
            case "llama3":
                for (int i = 0; i < inverse.Length; i++) inverse[i] = scaling.Llama3(inverse[i]);
                break;
            case "yarn":
                scaling.Yarn(inverse, theta, headDim);
                break;
        }
        return inverse;
    }

    /// <summary>
    /// llama3: wavelengths longer than the original context / low_freq_factor are stretched by the factor, shorter than
    /// original / high_freq_factor kept, and those between blended linearly in original / wavelength.
    /// </summary>
    private double Llama3(double frequency)
    {
        double wavelength = 2 * Math.PI / frequency;
        double lowFreqWavelength = OriginalMaxPositions / LowFreqFactor, highFreqWavelength = OriginalMaxPositions / HighFreqFactor;
        if (wavelength < highFreqWavelength) return frequency;
        if (wavelength > lowFreqWavelength) return frequency / Factor;
        double smooth = (OriginalMaxPositions / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - smooth) * frequency / Factor + smooth * frequency;
    }

    /// <summary>
    /// yarn: dimensions that rotate more than beta_fast times over the original context keep their frequency
    /// (extrapolation), those that rotate less than beta_slow times are divided by the factor (interpolation), with a
    /// linear ramp between the two correction dimensions (floored and ceiled, as transformers' truncate does).
    /// </summary>
    private void Yarn(double[] inverse, double theta, long headDim)
    {
        double CorrectionDimension(double rotations) =>
            headDim * Math.Log(OriginalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = Math.Max(Math.Floor(CorrectionDimension(BetaFast)), 0);
        double high = Math.Min(Math.Ceiling(CorrectionDimension(BetaSlow)), headDim - 1);
        if (low == high) high += 0.001;
        for (int i = 0; i < inverse.Length; i++)
        {
            double ramp = Math.Clamp((i - low) / (high - low), 0, 1);
            double extrapolation = 1 - ramp;                                   // weight of the unscaled frequency
            inverse[i] = inverse[i] / Factor * (1 - extrapolation) + inverse[i] * extrapolation;
        }
    }
}
