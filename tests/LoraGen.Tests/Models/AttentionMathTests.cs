using LoraGen.Models.Attention;
using LoraGen.Models.Llama;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>Rotary embeddings and grouped-query attention against formulas written out element by element.</summary>
public class AttentionMathTests
{
    [Fact]
    public void Rotary_rotates_each_pair_i_and_i_plus_half_by_position_times_frequency()
    {
        const int seq = 5, d = 8;
        const double theta = 10000;
        manual_seed(110);
        using var x = randn(1, 1, seq, d, dtype: float64);
        var (cos, sin) = Rotary.Tables(seq, d, theta, CPU);
        using (cos)
        using (sin)
        using (var rotated = Rotary.Apply(x, cos.to(float64), sin.to(float64)))
        {
            var input = x.data<double>().ToArray();
            var output = rotated.data<double>().ToArray();
            for (int p = 0; p < seq; p++)
                for (int i = 0; i < d / 2; i++)
                {
                    double angle = p * Math.Pow(theta, -2.0 * i / d);
                    double a = input[p * d + i], b = input[p * d + i + d / 2];
                    Assert.Equal(a * Math.Cos(angle) - b * Math.Sin(angle), output[p * d + i], 5);
                    Assert.Equal(b * Math.Cos(angle) + a * Math.Sin(angle), output[p * d + i + d / 2], 5);
                }
        }
    }

    [Fact]
    public void Rotated_dot_products_depend_only_on_the_distance()
    {
        const int seq = 12, d = 16;
        manual_seed(111);
        using var q = randn(1, 1, 1, d).expand(1, 1, seq, d).contiguous();
        using var k = randn(1, 1, 1, d).expand(1, 1, seq, d).contiguous();
        var (cos, sin) = Rotary.Tables(seq, d, 10000, CPU);
        using var rq = Rotary.Apply(q, cos, sin);
        using var rk = Rotary.Apply(k, cos, sin);
        using var scores = rq.matmul(rk.transpose(-2, -1)).squeeze();               // (seq, seq)
        for (int offset = 0; offset < 4; offset++)
            Assert.Equal(scores[offset, 0].item<float>(), scores[offset + 5, 5].item<float>(), 3);
        cos.Dispose();
        sin.Dispose();
    }

    [Fact]
    public void Grouped_query_attention_equals_causal_softmax_per_head_with_shared_kv()
    {
        const int heads = 4, kvHeads = 2, seq = 6, d = 3;
        manual_seed(112);
        using var q = randn(1, heads, seq, d, dtype: float64);
        using var k = randn(1, kvHeads, seq, d, dtype: float64);
        using var v = randn(1, kvHeads, seq, d, dtype: float64);
        using var kk = CausalAttention.ExpandKv(k, heads, kvHeads);
        using var vv = CausalAttention.ExpandKv(v, heads, kvHeads);
        using var output = CausalAttention.Attend(q, kk, vv);                        // (1, seq, heads·d)

        for (int h = 0; h < heads; h++)
        {
            int g = h / (heads / kvHeads);                                           // the kv head that query head h reads
            for (int t = 0; t < seq; t++)
            {
                var scores = Enumerable.Range(0, t + 1)
                    .Select(s => Enumerable.Range(0, d).Sum(i => q[0, h, t, i].item<double>() * k[0, g, s, i].item<double>()) / Math.Sqrt(d))
                    .ToArray();
                double max = scores.Max();
                var weights = scores.Select(x => Math.Exp(x - max)).ToArray();
                double total = weights.Sum();
                for (int i = 0; i < d; i++)
                {
                    double expected = Enumerable.Range(0, t + 1).Sum(s => weights[s] / total * v[0, g, s, i].item<double>());
                    Assert.Equal(expected, output[0, t, h * d + i].item<double>(), 10);
                }
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void A_sliding_window_lets_each_query_see_itself_and_the_window_minus_one_keys_before_it(int past)
    {
        const int seq = 5, d = 4, window = 3;
        int total = past + seq;
        manual_seed(113);
        using var q = randn(1, 1, seq, d, dtype: float64);                           // positions past .. past+seq−1
        using var k = randn(1, 1, total, d, dtype: float64);
        using var v = randn(1, 1, total, d, dtype: float64);
        using var output = CausalAttention.Attend(q, k, v, window);
        for (int t = 0; t < seq; t++)
        {
            int position = past + t;
            var visible = Enumerable.Range(0, total).Where(j => j <= position && j > position - window).ToArray();   // Mistral's rule
            var scores = visible.Select(j => Enumerable.Range(0, d).Sum(i => q[0, 0, t, i].item<double>() * k[0, 0, j, i].item<double>()) / Math.Sqrt(d)).ToArray();
            double max = scores.Max();
            var weights = scores.Select(x => Math.Exp(x - max)).ToArray();
            double sum = weights.Sum();
            for (int i = 0; i < d; i++)
                Assert.Equal(visible.Select((j, n) => weights[n] / sum * v[0, 0, j, i].item<double>()).Sum(), output[0, t, i].item<double>(), 10);
        }
    }

    [Fact]
    public void Mistral_reads_its_sliding_window()
    {
        var config = LoraGen.Planning.ModelConfigReader.FromJson("""
            {"model_type": "mistral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 50, "sliding_window": 4096}
            """);
        Assert.Equal(4096, config.SlidingWindow);
    }

    [Fact]
    public void A_forward_pass_builds_its_rotary_tables_and_masks_once_for_every_layer()
    {
        using var cache = new KvCache(1);
        using (var k = zeros(1, 1, 3, 8))
            cache.Append(0, k, k);                                               // three tokens already cached
        cache.Advance(3);
        using var pass = new ForwardPass(cache, 2, CPU);                       // positions 3 and 4
        var (cos, sin) = pass.Rotary(8, 10000, null, ScalarType.Float32);
        Assert.Same(cos, pass.Rotary(8, 10000, null, ScalarType.Float32).Cos);   // the second layer gets the same tables
        Assert.NotSame(cos, pass.Rotary(8, 1e6, null, ScalarType.Float32).Cos);  // another base (Gemma 3's global layers): its own
        var (allCos, allSin) = Rotary.Tables(5, 8, 10000, CPU);
        TensorAssert.BitwiseEqual(allCos.narrow(0, 3, 2), cos);
        TensorAssert.BitwiseEqual(allSin.narrow(0, 3, 2), sin);

        var mask = pass.Mask(null);
        Assert.Same(mask, pass.Mask(null));
        using var expected = CausalAttention.MaskedKeys(2, 5, null, CPU);
        TensorAssert.BitwiseEqual(expected, mask);
        Assert.Equal([false, false, false, false, true], pass.Mask(null)[0].data<bool>().ToArray());   // query at 3 sees keys 0..3
        Assert.Equal([true, true, false, false, true], pass.Mask(2)[0].data<bool>().ToArray());        // window 2: keys 2..3
    }
}
