namespace LoraGen.Layers;

/// <summary>
/// The settings of one adapter, as peft's LoraConfig names them. Defaults follow peft except r and
/// alpha, which every caller states.
/// </summary>
/// <param name="R">Rank of the update: A is r × in, B is out × r.</param>
/// <param name="Alpha">Scale numerator: the update is (alpha / r)·B·A, or (alpha / √r)·B·A with rsLoRA.</param>
public sealed record LoraConfig(int R, double Alpha)
{
    /// <summary>Dropout probability on the adapter path only, in [0, 1).</summary>
    public double Dropout { get; init; }

    /// <summary>Rank-stabilised scaling alpha/√r (Kalajdzievski 2023) instead of alpha/r.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>Weight-decomposed adaptation: a trained magnitude per output row times a normalised direction.</summary>
    public bool UseDora { get; init; }

    public LoraInit Init { get; init; } = LoraInit.KaimingUniform;

    public LoraBias Bias { get; init; } = LoraBias.None;

    /// <summary>
    /// peft's <c>autocast_adapter_dtype</c>: on a 16-bit base (fp16, bf16; dense or quantized from one) the
    /// adapter is kept in fp32 for stable training. False keeps it in the base's dtype.
    /// </summary>
    public bool AutocastAdapterDtype { get; init; } = true;

    /// <summary>The factor applied to B·A.</summary>
    public double Scaling => UseRsLora ? Alpha / Math.Sqrt(R) : Alpha / R;

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="owner"/> and the bad value.</summary>
    public void Validate(string owner)
    {
        if (R < 1)
            throw new ArgumentException($"{owner}: r must be at least 1; got {R}.", nameof(R));
        if (!(Alpha > 0) || double.IsInfinity(Alpha))
            throw new ArgumentException($"{owner}: alpha must be a positive finite number; got {Alpha}.", nameof(Alpha));
        if (!(Dropout >= 0 && Dropout < 1))
            throw new ArgumentException($"{owner}: dropout must be in [0, 1); got {Dropout}.", nameof(Dropout));
        if (!Enum.IsDefined(Init))
            throw new ArgumentException($"{owner}: unknown init {(int)Init}.", nameof(Init));
        if (!Enum.IsDefined(Bias))
            throw new ArgumentException($"{owner}: unknown bias mode {(int)Bias}.", nameof(Bias));
    }
}
