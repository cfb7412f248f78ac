using System.Globalization;
using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>
/// A tiny model of one family as transformers writes it: config.json and model.safetensors with its key names and
/// shapes (written here from the modeling files, not from LoraGen's parameter names), and the family's forward pass
/// recomputed in fp64 with plain tensor ops, step by step as transformers' modeling file computes it.
/// </summary>
/// <param name="Slides">Whether layer l uses the sliding window (transformers' "sliding_attention" layer type).</param>
/// <param name="Gemma">Gemma's forward: embedding × √hidden, (1 + w) norms, sandwich norms, GeGLU.</param>
/// <param name="Fused">Phi-3's qkv_proj (rows q, k, v) and gate_up_proj (rows gate, up).</param>
/// <param name="LinearRopeFactor">rope_scaling linear on the global layers (positions divided by the factor).</param>
/// <param name="QkvBias">Qwen2's biases on q_proj, k_proj and v_proj.</param>
public sealed record TinyHfFamily(
    string ModelType, int HeadDim, bool? Tied, double Eps, double Theta, Func<int, bool> Slides,
    bool QkNorm = false, bool Gemma = false, bool Fused = false, double RotaryFraction = 1, int? Window = null, int? Pattern = null,
    double? LocalTheta = null, double? LinearRopeFactor = null, double? QueryScalar = null, double? AttnCap = null, double? FinalCap = null,
    bool QkvBias = false)
{
    public const int Hidden = 32, Intermediate = 48, Layers = 3, Heads = 4, KvHeads = 2, Vocab = 50;

    public static readonly IReadOnlyDictionary<string, TinyHfFamily> All = new Dictionary<string, TinyHfFamily>
    {
        // head_dim = hidden / heads; rope_theta of Llama 3; a separate lm_head.
        ["llama"] = new("llama", 8, Tied: false, 1e-5, 500000, Slides: _ => false),
        // Mistral's sliding_window on every layer, shorter than the sequences.
        ["mistral"] = new("mistral", 8, Tied: false, 1e-5, 10000, Slides: _ => true, Window: 4),
        // Qwen2: biases on q, k and v; tied embeddings.
        ["qwen2"] = new("qwen2", 8, Tied: true, 1e-6, 1_000_000, Slides: _ => false, QkvBias: true),
        // head_dim 12 while hidden / heads is 8: q is 48 wide.
        ["qwen3"] = new("qwen3", 12, Tied: true, 1e-6, 10000, Slides: _ => false, QkNorm: true),
        // Gemma2's layer_types: (i + 1) % 2 → even layers slide; soft-caps small enough to bite.
        ["gemma2"] = new("gemma2", 16, Tied: null, 1e-6, 10000, Slides: l => l % 2 == 0, Gemma: true, Window: 3,
            QueryScalar: 10, AttnCap: 2.5, FinalCap: 3),
        // sliding_window_pattern 3: layers 0 and 1 slide at the local base; layer 2 is global, at rope_theta scaled.
        ["gemma3_text"] = new("gemma3_text", 16, Tied: null, 1e-6, 1_000_000, Slides: l => (l + 1) % 3 != 0, QkNorm: true, Gemma: true,
            Window: 3, Pattern: 3, LocalTheta: 10000, LinearRopeFactor: 2, QueryScalar: 24),
        // head_dim = hidden / heads = 8, half of it rotated; the window on every layer.
        ["phi3"] = new("phi3", 8, Tied: false, 1e-5, 10000, Slides: _ => true, Fused: true, RotaryFraction: 0.5, Window: 4),
    };

    public string ConfigJson
    {
        get
        {
            var fields = new List<string>
            {
                $"\"model_type\": \"{ModelType}\"", $"\"hidden_size\": {Hidden}", $"\"intermediate_size\": {Intermediate}",
                $"\"num_hidden_layers\": {Layers}", $"\"num_attention_heads\": {Heads}", $"\"num_key_value_heads\": {KvHeads}",
                $"\"vocab_size\": {Vocab}", $"\"rms_norm_eps\": {Number(Eps)}", $"\"rope_theta\": {Number(Theta)}",
            };
            if (!Fused) fields.Add($"\"head_dim\": {HeadDim}");
            if (Tied is bool tied) fields.Add($"\"tie_word_embeddings\": {(tied ? "true" : "false")}");   // Gemma: the class default (true)
            if (Window is int window) fields.Add($"\"sliding_window\": {window}");
            if (Pattern is int pattern) fields.Add($"\"sliding_window_pattern\": {pattern}");
            if (LocalTheta is double local) fields.Add($"\"rope_local_base_freq\": {Number(local)}");
            if (LinearRopeFactor is double factor) fields.Add($"\"rope_scaling\": {{\"rope_type\": \"linear\", \"factor\": {Number(factor)}}}");
            if (QueryScalar is double scalar) fields.Add($"\"query_pre_attn_scalar\": {Number(scalar)}");
            if (Gemma) fields.Add($"\"attn_logit_softcapping\": {(AttnCap is double a ? Number(a) : "null")}, \"final_logit_softcapping\": {(FinalCap is double f ? Number(f) : "null")}");
            if (Fused) fields.Add($"\"partial_rotary_factor\": {Number(RotaryFraction)}");
            return "{" + string.Join(", ", fields) + "}";
        }
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The checkpoint's keys and shapes, as the transformers class names them.</summary>
    public IReadOnlyList<(string Key, long[] Shape)> Keys()
    {
        long q = Heads * HeadDim, kv = KvHeads * HeadDim;
        var keys = new List<(string, long[])> { ("model.embed_tokens.weight", [Vocab, Hidden]) };
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            keys.Add((p + "input_layernorm.weight", [Hidden]));
            keys.Add((p + "post_attention_layernorm.weight", [Hidden]));
            if (Gemma)
            {
                keys.Add((p + "pre_feedforward_layernorm.weight", [Hidden]));
                keys.Add((p + "post_feedforward_layernorm.weight", [Hidden]));
            }
            if (Fused)
            {
                keys.Add((p + "self_attn.qkv_proj.weight", [q + 2 * kv, Hidden]));
                keys.Add((p + "mlp.gate_up_proj.weight", [2 * Intermediate, Hidden]));
            }
            else
            {
                keys.Add((p + "self_attn.q_proj.weight", [q, Hidden]));
                keys.Add((p + "self_attn.k_proj.weight", [kv, Hidden]));
                keys.Add((p + "self_attn.v_proj.weight", [kv, Hidden]));
                if (QkvBias)
                {
                    keys.Add((p + "self_attn.q_proj.bias", [q]));
                    keys.Add((p + "self_attn.k_proj.bias", [kv]));
                    keys.Add((p + "self_attn.v_proj.bias", [kv]));
                }
                keys.Add((p + "mlp.gate_proj.weight", [Intermediate, Hidden]));
                keys.Add((p + "mlp.up_proj.weight", [Intermediate, Hidden]));
            }
            keys.Add((p + "self_attn.o_proj.weight", [Hidden, q]));
            keys.Add((p + "mlp.down_proj.weight", [Hidden, Intermediate]));
            if (QkNorm)
            {
                keys.Add((p + "self_attn.q_norm.weight", [HeadDim]));
                keys.Add((p + "self_attn.k_norm.weight", [HeadDim]));
            }
        }
        keys.Add(("model.norm.weight", [Hidden]));
        if (Tied == false) keys.Add(("lm_head.weight", [Vocab, Hidden]));
        return keys;
    }

    /// <summary>Writes config.json and a bf16 model.safetensors of random weights; returns them in fp64 (exactly the stored values).</summary>
    public Dictionary<string, Tensor> Write(string folder, long seed)
    {
        manual_seed(seed);
        var weights = new Dictionary<string, Tensor>();
        foreach (var (key, shape) in Keys())
        {
            using var noise = randn(shape, dtype: float64);
            bool norm = key.EndsWith("norm.weight", StringComparison.Ordinal);
            using var values = norm ? (Gemma ? noise * 0.3 : noise * 0.3 + 1) : noise * (key.Contains("embed") ? 0.5 : 0.25);   // Gemma stores w of (1 + w)
            weights[key] = values.to(bfloat16);
        }
        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), weights.Select(w => (w.Key, w.Value)).ToList());
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson);
        return weights.ToDictionary(w => w.Key, w => { using var stored = w.Value; return stored.to(float64); });
    }

    /// <summary>The logits of <paramref name="ids"/> (one sequence), in fp64.</summary>
    /// <returns>(seq, vocab)</returns>
    public Tensor Reference(IReadOnlyDictionary<string, Tensor> w, long[] ids)
    {
        using var scope = NewDisposeScope();
        int s = ids.Length, d = HeadDim, q = Heads * d, kv = KvHeads * d;
        Tensor Linear(Tensor x, string module) =>
            w.TryGetValue(module + ".bias", out var bias) ? x.matmul(w[module + ".weight"].t()) + bias : x.matmul(w[module + ".weight"].t());
        Tensor Norm(Tensor x, string module)   // x / √(mean(x²) + ε) · w, Gemma: · (1 + w)
        {
            var normalized = x / (x.pow(2).mean([-1], keepdim: true) + Eps).sqrt();
            return normalized * (Gemma ? w[module + ".weight"] + 1 : w[module + ".weight"]);
        }
        Tensor Mlp(Tensor x, string p)
        {
            Tensor gate, up;
            if (Fused)
            {
                var both = Linear(x, p + "mlp.gate_up_proj");                         // (s, 2·I): gate rows first
                (gate, up) = (both.narrow(-1, 0, Intermediate), both.narrow(-1, Intermediate, Intermediate));
            }
            else (gate, up) = (Linear(x, p + "mlp.gate_proj"), Linear(x, p + "mlp.up_proj"));
            var activated = Gemma
                ? 0.5 * gate * (1 + (Math.Sqrt(2 / Math.PI) * (gate + 0.044715 * gate.pow(3))).tanh())   // gelu_pytorch_tanh
                : gate / (1 + (-gate).exp());                                                              // silu
            return Linear(activated * up, p + "mlp.down_proj");
        }

        var h = w["model.embed_tokens.weight"].index_select(0, tensor(ids));         // (s, H)
        if (Gemma) h = h * Math.Sqrt(Hidden);
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var x = Norm(h, p + "input_layernorm");
            Tensor qs, ks, vs;
            if (Fused)
            {
                var qkv = Linear(x, p + "self_attn.qkv_proj");                         // (s, q + 2kv): rows q, k, v
                (qs, ks, vs) = (qkv.narrow(-1, 0, q), qkv.narrow(-1, q, kv), qkv.narrow(-1, q + kv, kv));
            }
            else (qs, ks, vs) = (Linear(x, p + "self_attn.q_proj"), Linear(x, p + "self_attn.k_proj"), Linear(x, p + "self_attn.v_proj"));
            qs = qs.view(s, Heads, d);
            ks = ks.view(s, KvHeads, d);
            vs = vs.view(s, KvHeads, d);
            if (QkNorm) (qs, ks) = (Norm(qs, p + "self_attn.q_norm"), Norm(ks, p + "self_attn.k_norm"));   // per head, before rotary

            bool sliding = Slides(l);
            bool local = sliding && LocalTheta is not null;
            (qs, ks) = (Rotate(qs, local ? LocalTheta!.Value : Theta, local ? 1 : LinearRopeFactor ?? 1),
                        Rotate(ks, local ? LocalTheta!.Value : Theta, local ? 1 : LinearRopeFactor ?? 1));

            var heads = new List<Tensor>();
            for (int head = 0; head < Heads; head++)
            {
                int kvHead = head / (Heads / KvHeads);                                   // repeat_kv: consecutive query heads share
                var scores = qs.select(1, head).matmul(ks.select(1, kvHead).t()) / Math.Sqrt(QueryScalar ?? d);   // (s, s)
                if (AttnCap is double cap) scores = (scores / cap).tanh() * cap;
                var allowed = new bool[s * s];
                for (int i = 0; i < s; i++)
                    for (int j = 0; j < s; j++)
                        allowed[i * s + j] = j <= i && !(sliding && Window is int window && j <= i - window);
                scores = scores.masked_fill(tensor(allowed).view(s, s).logical_not(), double.NegativeInfinity);
                heads.Add(scores.softmax(-1).matmul(vs.select(1, kvHead)));            // (s, d)
            }
            var attended = Linear(cat(heads, -1), p + "self_attn.o_proj");
            if (Gemma)
            {
                h = h + Norm(attended, p + "post_attention_layernorm");
                h = h + Norm(Mlp(Norm(h, p + "pre_feedforward_layernorm"), p), p + "post_feedforward_layernorm");
            }
            else
            {
                h = h + attended;
                h = h + Mlp(Norm(h, p + "post_attention_layernorm"), p);
            }
        }
        h = Norm(h, "model.norm");
        var logits = h.matmul((Tied == false ? w["lm_head.weight"] : w["model.embed_tokens.weight"]).t());
        if (FinalCap is double final) logits = (logits / final).tanh() * final;
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>rotate_half on the first rotary dimensions: pairs (i, i + r/2) turned by position · θ^(−2i/r) / factor.</summary>
    /// <param name="x">(s, heads, d)</param>
    private Tensor Rotate(Tensor x, double theta, double factor)
    {
        long s = x.shape[0], d = x.shape[2], r = (long)(d * RotaryFraction), half = r / 2;
        var angles = new double[s * half];
        for (int pos = 0; pos < s; pos++)
            for (int i = 0; i < half; i++)
                angles[pos * half + i] = pos / factor * Math.Pow(theta, -2.0 * i / r);
        var angle = tensor(angles).view(s, 1, half);                                   // (s, 1, r/2): the same for each head
        var (x1, x2) = (x.narrow(-1, 0, half), x.narrow(-1, half, half));
        var turned = cat([x1 * angle.cos() - x2 * angle.sin(), x2 * angle.cos() + x1 * angle.sin()], -1);
        return r == d ? turned : cat([turned, x.narrow(-1, r, d - r)], -1);
    }
}
