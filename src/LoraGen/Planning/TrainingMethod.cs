namespace LoraGen.Planning;

public enum TrainingMethod
{
    /// <summary>Every parameter trains.</summary>
    Full,
    Lora,
    Dora,

    /// <summary>LoRA on a frozen base stored in 4-bit NF4 (every block Linear; embeddings, norms and lm_head stay 16-bit).</summary>
    Qlora,
}

/// <summary>How the numbers are held during training.</summary>
public enum Precision
{
    /// <summary>GPU practice: 16-bit weights, gradients and activations; fp32 master weights and AdamW moments.</summary>
    Mixed,

    /// <summary>Everything in fp32, as LoraGen trains on the CPU.</summary>
    Fp32,
}
