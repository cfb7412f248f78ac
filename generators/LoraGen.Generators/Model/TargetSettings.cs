namespace LoraGen.Generators.Model;

/// <summary>The settings of one [LoraTarget], read as compile-time constants.</summary>
/// <param name="Init">LoraGen.Layers.LoraInit as its underlying value.</param>
/// <param name="Bias">LoraGen.Layers.LoraBias as its underlying value.</param>
internal sealed record TargetSettings(int R, double Alpha, double Dropout, bool UseRsLora, bool UseDora, int Init, int Bias)
{
    public double Scaling => UseRsLora ? Alpha / System.Math.Sqrt(R) : Alpha / R;

    public bool IsValid => R >= 1 && Alpha > 0 && !double.IsInfinity(Alpha) && Dropout >= 0 && Dropout < 1;
}
