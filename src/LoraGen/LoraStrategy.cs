// Compiled into the runtime and, as a linked file, into the source generator: the generator reads the very
// same members, so reordering them cannot silently retarget a model.
namespace LoraGen;

/// <summary>Which layers a class-level <see cref="LoraTargetAttribute"/> adapts, resolved at compile time.</summary>
#if LORAGEN_GENERATOR
internal
#else
public
#endif
enum LoraStrategy
{
    /// <summary>q_proj and v_proj, as in the LoRA paper.</summary>
    Original,

    /// <summary>q_proj, k_proj, v_proj and o_proj.</summary>
    Extended,

    /// <summary>Every Linear of the model's blocks (attention and MLP); never lm_head or embeddings.</summary>
    AllLinear,
}
