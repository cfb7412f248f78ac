namespace LoraGen.Models.Generation;

/// <summary>How to pick each next token.</summary>
/// <param name="Temperature">0 picks the most likely token (greedy); above 0 samples from softmax(logits / T).</param>
/// <param name="TopP">Nucleus sampling: only the most likely tokens whose probabilities add up to TopP are kept.</param>
/// <param name="Seed">Seeds the sampler, so a run repeats exactly.</param>
/// <param name="EndToken">Stops after this token, when given.</param>
/// <param name="EndTokens">Stops after any of these too (Llama 3.1's eos_token_id lists several).</param>
public sealed record GenerationOptions(int MaxNewTokens = 32, double Temperature = 0, double TopP = 1.0, int Seed = 0, long? EndToken = null,
    IReadOnlyCollection<long>? EndTokens = null)
{
    public void Validate()
    {
        if (Problem() is var (field, problem)) throw new ArgumentException($"{field} {problem}.");
    }

    /// <summary>The first setting out of range and what is wrong with it; null when all are fine. Callers name the field as their users know it (--top-p, top_p).</summary>
    public (string Field, string Problem)? Problem() =>
        MaxNewTokens < 1 ? (nameof(MaxNewTokens), $"must be at least 1; got {MaxNewTokens}")
        : !(Temperature >= 0) || double.IsInfinity(Temperature) ? (nameof(Temperature), $"must be finite and not negative; got {Temperature}")
        : !(TopP > 0 && TopP <= 1) ? (nameof(TopP), $"must be in (0, 1]; got {TopP}")
        : null;
}
