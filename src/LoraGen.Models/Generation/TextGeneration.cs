using LoraGen.Models.Attention;
using static TorchSharp.torch;

namespace LoraGen.Models.Generation;

/// <summary>Autoregressive generation with a key/value cache: the prompt once, then one token per step.</summary>
public static class TextGeneration
{
    /// <param name="onToken">Called with each new token as soon as it is chosen (streaming).</param>
    /// <returns>The new tokens (the prompt not included).</returns>
    public static long[] Generate(ICausalLanguageModel model, IReadOnlyList<long> prompt, GenerationOptions options, Action<long>? onToken = null)
    {
        options.Validate();
        if (prompt.Count == 0) throw new ArgumentException("The prompt needs at least one token.", nameof(prompt));
        using var _ = no_grad();
        using var cache = new KvCache(model.LayerCount);
        var random = new Random(options.Seed);
        var produced = new List<long>();
        var input = tensor(prompt.ToArray()).unsqueeze(0);                       // (1, prompt)
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(input, cache);                             // (1, new, vocab)
            var last = logits[0, -1].to(float32).data<float>().ToArray();         // (vocab,)
            long next = Choose(last, options, random);
            produced.Add(next);
            onToken?.Invoke(next);
            input.Dispose();
            input = tensor(new[] { next }).unsqueeze(0).DetachFromDisposeScope(); // (1, 1)
            if (next == options.EndToken || options.EndTokens?.Contains(next) == true) break;
        }
        input.Dispose();
        return produced.ToArray();
    }

    /// <summary>Greedy at temperature 0; otherwise a draw from the top-p nucleus of softmax(logits / T).</summary>
    public static long Choose(float[] logits, GenerationOptions options, Random random)
    {
        if (options.Temperature == 0) return Array.IndexOf(logits, logits.Max());
        double max = logits.Max();
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        var weights = order.Select(i => Math.Exp((logits[i] - max) / options.Temperature)).ToArray();
        double total = weights.Sum();
        int keep = 0;
        for (double mass = 0; keep < weights.Length && (keep == 0 || mass < options.TopP * total); keep++) mass += weights[keep];
        double draw = random.NextDouble() * weights.Take(keep).Sum();
        for (int i = 0; i < keep; i++)
        {
            draw -= weights[i];
            if (draw <= 0) return order[i];
        }
        return order[keep - 1];
    }
}
