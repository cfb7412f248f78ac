// Linked into the source generator too (see LoraStrategy.cs).
namespace LoraGen.Layers;

/// <summary>How a new adapter's A and B start. The first two keep B = 0, so a fresh adapter changes nothing.</summary>
#if LORAGEN_GENERATOR
internal
#else
public
#endif
enum LoraInit
{
    /// <summary>A ~ Kaiming-uniform with a = √5 (nn.Linear's default), B = 0. peft's <c>init_lora_weights=True</c>.</summary>
    KaimingUniform,

    /// <summary>A ~ N(0, σ = 1/r), B = 0. peft's <c>init_lora_weights="gaussian"</c>.</summary>
    Gaussian,

    /// <summary>
    /// A and B keep nn.Linear's default init (B is not zero, so the adapter changes the output from the start):
    /// peft's <c>init_lora_weights=False</c>, meant for debugging and tests.
    /// </summary>
    LinearDefault,
}
