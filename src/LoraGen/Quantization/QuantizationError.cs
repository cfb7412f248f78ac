namespace LoraGen.Quantization;

/// <summary>How far a quantized weight is from the dense one it stands for.</summary>
/// <param name="MaxAbs">Largest absolute difference of one weight.</param>
/// <param name="Rms">Root mean square difference.</param>
/// <param name="RelativeRms">Rms divided by the root mean square of the dense weight.</param>
public sealed record QuantizationError(double MaxAbs, double Rms, double RelativeRms);
