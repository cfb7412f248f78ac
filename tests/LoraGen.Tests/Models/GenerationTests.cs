using LoraGen.Models.Attention;
using LoraGen.Models.Gemma;
using LoraGen.Models.Generation;
using LoraGen.Models.Gpt2;
using LoraGen.Models.Llama;
using LoraGen.Models.Phi;
using LoraGen.Models.Phi3;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

public class GenerationTests
{
    public static TheoryData<string> Families => new() { "llama", "gpt2", "phi", "qwen3", "gemma2", "gemma3", "phi3" };

    private static ICausalLanguageModel Build(string family)
    {
        manual_seed(120);
        return family switch
        {
            "llama" => new LlamaForCausalLM(new ModelConfig("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 40, false)),
            "gpt2" => new Gpt2LMHeadModel(new ModelConfig("gpt2", ModelFamily.Gpt2, 32, 64, 2, 4, 4, 40, true, 64)),
            "phi" => new PhiForCausalLM(new ModelConfig("phi", ModelFamily.Phi, 32, 64, 2, 4, 4, 40, false, RotaryFraction: 0.5)),
            "qwen3" => new LlamaForCausalLM(new ModelConfig("qwen3", ModelFamily.Qwen3, 32, 64, 2, 4, 2, 40, true, HeadDimension: 12)),
            // Windows of 3 and 4 over sequences of 6 to 16 tokens: the cache must keep the keys a window no longer shows.
            "gemma2" => new GemmaForCausalLM(new ModelConfig("gemma2", ModelFamily.Gemma2, 32, 64, 2, 4, 2, 40, true, HeadDimension: 16,
                SlidingWindow: 3, SlidingWindowPattern: 2, QueryPreAttnScalar: 10, AttentionSoftcap: 2.5, FinalLogitSoftcap: 3)),
            "gemma3" => new GemmaForCausalLM(new ModelConfig("gemma3_text", ModelFamily.Gemma3, 32, 64, 3, 4, 2, 40, true, RopeTheta: 1e6,
                HeadDimension: 16, SlidingWindow: 3, SlidingWindowPattern: 3, LocalRopeTheta: 10000, QueryPreAttnScalar: 24)),
            _ => new Phi3ForCausalLM(new ModelConfig("phi3", ModelFamily.Phi3, 32, 64, 2, 4, 2, 40, false, RotaryFraction: 0.5, SlidingWindow: 4)),
        };
    }

    /// <summary>Greedy decoding by running the whole sequence again at every step, with no cache.</summary>
    private static long[] GreedyWithoutCache(ICausalLanguageModel model, long[] prompt, int steps)
    {
        using var _ = no_grad();
        var tokens = prompt.ToList();
        for (int step = 0; step < steps; step++)
        {
            using var ids = tensor(tokens.ToArray()).unsqueeze(0);
            using var logits = model.Forward(ids, null);
            using var last = logits[0, -1];
            tokens.Add(last.argmax().item<long>());
        }
        return tokens.Skip(prompt.Length).ToArray();
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Cached_generation_equals_recomputing_the_whole_sequence(string family)
    {
        var model = Build(family);
        using var module = (nn.Module)model;
        long[] prompt = [3, 17, 5, 9];
        var cached = TextGeneration.Generate(model, prompt, new GenerationOptions(MaxNewTokens: 12));
        Assert.Equal(GreedyWithoutCache(model, prompt, 12), cached);
    }

    public static TheoryData<string> RotaryFamilies => new() { "llama", "phi", "qwen3", "gemma2", "gemma3", "phi3" };

    [Theory]
    [MemberData(nameof(RotaryFamilies))]
    public void A_batch_of_row_caches_decodes_each_row_at_its_own_position_as_it_would_alone(string family)
    {
        var model = Build(family);
        using var module = (nn.Module)model;
        using var _ = no_grad();
        long[][] prompts = [[1, 2, 3, 4, 5, 6, 7], [8], [9, 10, 11, 12]];           // past the sliding windows, and not
        var alone = prompts.Select(_ => new KvCache(model.LayerCount)).ToArray();
        var rows = prompts.Select(_ => new KvCache(model.LayerCount)).ToArray();
        for (int i = 0; i < prompts.Length; i++)
        {
            using var ids = tensor(prompts[i]).unsqueeze(0);
            model.Forward(ids, alone[i]).Dispose();
            model.Forward(ids, rows[i]).Dispose();
        }
        for (int step = 0; step < 3; step++)
        {
            long[] next = [20 + step, 30 + step, 35 - step];
            using var batch = tensor(next).unsqueeze(1);                              // (3, 1)
            using var view = KvCache.OfRows(rows);
            using var together = model.Forward(batch, view);                          // (3, 1, vocab)
            for (int i = 0; i < prompts.Length; i++)
            {
                using var one = tensor(new[] { next[i] }).unsqueeze(0);
                using var expected = model.Forward(one, alone[i]);
                TensorAssert.Close(expected[0], together[i], 1e-5);
                Assert.Equal(prompts[i].Length + step + 1, rows[i].Length);
            }
        }
        foreach (var cache in alone.Concat(rows)) cache.Dispose();
    }

    [Fact]
    public void Gpt2_refuses_a_batch_of_row_caches_by_name()
    {
        var model = Build("gpt2");
        using var module = (nn.Module)model;
        using var _ = no_grad();
        using var row = new KvCache(model.LayerCount);
        using var view = KvCache.OfRows([row]);
        using var ids = tensor(new long[] { 1 }).unsqueeze(0);
        var error = Assert.Throws<InvalidOperationException>(() => model.Forward(ids, view));
        Assert.Contains("learned positions (GPT-2)", error.Message);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Step_logits_with_a_cache_equal_the_full_forward(string family)
    {
        var model = Build(family);
        using var module = (nn.Module)model;
        using var _ = no_grad();
        using var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).unsqueeze(0);
        using var full = model.Forward(ids, null);                                  // (1, 6, vocab)
        using var cache = new KvCache(model.LayerCount);
        using var first = model.Forward(ids.narrow(1, 0, 4), cache);                // prompt of 4
        using var fifth = model.Forward(ids.narrow(1, 4, 1), cache);
        using var sixth = model.Forward(ids.narrow(1, 5, 1), cache);
        TensorAssert.Close(full.narrow(1, 0, 4), first, 1e-5);
        TensorAssert.Close(full.narrow(1, 4, 1), fifth, 1e-5);
        TensorAssert.Close(full.narrow(1, 5, 1), sixth, 1e-5);
        Assert.Equal(6, cache.Length);
    }

    [Fact]
    public void Top_p_samples_only_from_the_nucleus_in_proportion()
    {
        // Probabilities 0.5, 0.3, 0.15, 0.05: top-p 0.7 keeps the first two, renormalised to 0.625 / 0.375.
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.15f), MathF.Log(0.05f)];
        var options = new GenerationOptions(Temperature: 1, TopP: 0.7);
        var random = new Random(121);
        var counts = new int[4];
        for (int i = 0; i < 20_000; i++) counts[TextGeneration.Choose(logits, options, random)]++;
        Assert.Equal(0, counts[2] + counts[3]);
        Assert.InRange(counts[0] / 20_000.0, 0.61, 0.64);
    }

    [Fact]
    public void Sampling_repeats_with_its_seed_and_bad_options_are_refused()
    {
        var model = Build("llama");
        using var module = (nn.Module)model;
        var options = new GenerationOptions(MaxNewTokens: 10, Temperature: 0.8, TopP: 0.9, Seed: 7);
        Assert.Equal(TextGeneration.Generate(model, [1, 2], options), TextGeneration.Generate(model, [1, 2], options));
        Assert.Throws<ArgumentException>(() => TextGeneration.Generate(model, [1], options with { TopP = 0 }));
    }
}
