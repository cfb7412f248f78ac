namespace LoraGen.Planning;

/// <summary>
/// One adapted layer as the source generator resolved it at compile time. <see cref="Path"/> uses
/// <c>{i}</c> for ModuleList indices; sizes and counts are known where the source gives them as constants.
/// </summary>
/// <param name="TrainableParameters">Per layer instance: r·(in + out), plus out for DoRA's magnitude.</param>
public sealed record LoraPlanEntry(
    string Path, int R, double Alpha, double Scaling, bool UseDora, long? InFeatures, long? OutFeatures, long? TrainableParameters);
