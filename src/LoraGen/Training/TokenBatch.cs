using static TorchSharp.torch;

namespace LoraGen.Training;

/// <summary>Token ids and the labels the loss is taken on: a label of <see cref="Ignored"/> counts for nothing.</summary>
/// <param name="Ids">(batch, seq) int64</param>
/// <param name="Labels">(batch, seq) int64: the id itself where the token is learned, <see cref="Ignored"/> where not (a prompt, padding).</param>
public sealed record TokenBatch(Tensor Ids, Tensor Labels) : IDisposable
{
    /// <summary>transformers' and PyTorch's ignore_index.</summary>
    public const long Ignored = -100;

    /// <summary>How many tokens the loss is taken on (labels after the first position that are not ignored).</summary>
    public long LearnedTokens => LearnedIn(Labels);

    /// <summary>The learned tokens of (batch, seq) <paramref name="labels"/>: those after the first position not ignored.</summary>
    public static long LearnedIn(Tensor labels)
    {
        using var shifted = labels.narrow(1, 1, labels.shape[1] - 1);
        using var learned = shifted.ne(Ignored);
        return learned.sum().item<long>();
    }

    /// <summary>A batch of equal-length examples: their ids, and labels with the unlearned positions ignored.</summary>
    public static TokenBatch Of(IReadOnlyList<TrainingExample> examples)
    {
        long rows = examples.Count, seq = examples[0].Length;
        var ids = examples.SelectMany(e => e.Ids).ToArray();
        var labels = examples.SelectMany(e => e.Ids.Zip(e.Learned, (id, learned) => learned ? id : Ignored)).ToArray();
        return new TokenBatch(tensor(ids, [rows, seq]), tensor(labels, [rows, seq]));
    }

    public void Dispose()
    {
        Ids.Dispose();
        Labels.Dispose();
    }
}

/// <summary>The causal language-model loss: position t predicts token t + 1, ignored labels excluded.</summary>
public static class CausalLmLoss
{
    /// <summary>The mean cross-entropy over the learned tokens; 0 when a batch has none (a window of prompt only).</summary>
    /// <param name="logits">(batch, seq, vocab)</param>
    /// <param name="labels">(batch, seq)</param>
    /// <returns>A scalar.</returns>
    public static Tensor Compute(Tensor logits, Tensor labels)
    {
        using var sum = Sum(logits, labels);
        return sum / Math.Max(1, TokenBatch.LearnedIn(labels));
    }

    /// <summary>
    /// The summed cross-entropy over the learned tokens: a step divides the sum of its batches by all their learned
    /// tokens together, as transformers does since 4.46, so accumulation equals one large batch.
    /// </summary>
    public static Tensor Sum(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        long seq = logits.shape[1], vocab = logits.shape[2];
        var predictions = logits.narrow(1, 0, seq - 1).reshape(-1, vocab).to(ScalarType.Float32);   // (b·(s−1), vocab)
        var targets = labels.narrow(1, 1, seq - 1).reshape(-1).to(logits.device);               // (b·(s−1),)
        return nn.functional.cross_entropy(predictions, targets, ignore_index: TokenBatch.Ignored, reduction: nn.Reduction.Sum).MoveToOuterDisposeScope();
    }
}
