using LoraGen.Checkpoints;
using LoraGen.Models.Loading;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LoraGen.Tests.Models;

/// <summary>
/// GPT-2 and Phi-2 (the families whose layout is not Llama's) from checkpoints written here in transformers' key
/// names and orientations (GPT-2's Conv1D stores (in, out)), against their forward passes recomputed in fp64 with
/// plain tensor ops as modeling_gpt2.py and modeling_phi.py compute them; and exported back in that layout.
/// </summary>
public sealed class ClassicFamilyReferenceTests(ITestOutputHelper output) : TemporaryFolder("loragen-classic-")
{
    private const int Hidden = 32, Intermediate = 64, Layers = 2, Heads = 4, Vocab = 50, Positions = 16;
    private static readonly long[] Ids = [3, 17, 5, 9, 41, 0, 22, 8, 30, 12, 49, 1];

    /// <summary>Writes random bf16 weights under <paramref name="shapes"/>' keys; returns them in fp64, as stored.</summary>
    private Dictionary<string, Tensor> Write(string config, IEnumerable<(string Key, long[] Shape)> shapes, long seed)
    {
        manual_seed(seed);
        var stored = shapes.ToDictionary(s => s.Key, s =>
        {
            using var noise = randn(s.Shape, dtype: float64);
            bool norm = s.Key.Contains("ln_") || s.Key.Contains("layernorm");
            using var values = norm && s.Key.EndsWith(".weight", StringComparison.Ordinal) ? noise * 0.2 + 1 : noise * 0.2;
            return values.to(bfloat16);
        });
        SafetensorsWriter.Write(Path.Combine(Folder.FullName, "model.safetensors"), stored.Select(w => (w.Key, w.Value)).ToList());
        File.WriteAllText(Path.Combine(Folder.FullName, "config.json"), config);
        return stored.ToDictionary(w => w.Key, w => { using var bf16 = w.Value; return bf16.to(float64); });
    }

    private static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias, double eps)
    {
        var centred = x - x.mean([-1], keepdim: true);
        return centred / (centred.pow(2).mean([-1], keepdim: true) + eps).sqrt() * weight + bias;
    }

    /// <summary>transformers' "gelu_new": 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    private static Tensor GeluNew(Tensor x) => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh());

    /// <summary>Causal softmax attention of each head, heads concatenated: (s, heads·d).</summary>
    private static Tensor Attend(Tensor q, Tensor k, Tensor v, int heads)
    {
        long s = q.shape[0], d = q.shape[1] / heads;
        var future = ones(s, s, dtype: ScalarType.Bool).triu(1);
        var outputs = Enumerable.Range(0, heads).Select(h =>
        {
            var (qh, kh, vh) = (q.narrow(1, h * d, d), k.narrow(1, h * d, d), v.narrow(1, h * d, d));
            return (qh.matmul(kh.t()) / Math.Sqrt(d)).masked_fill(future, double.NegativeInfinity).softmax(-1).matmul(vh);
        });
        return cat(outputs.ToArray(), -1);
    }

    /// <summary>The same checkpoint loaded in bf16: within 6% of the largest logit (8 significant bits, rounded at every step).</summary>
    private void AssertBf16Close(Tensor expected, string name)
    {
        using var model = HfModels.Load(Folder.FullName, ScalarType.BFloat16);
        using var logits = model.forward(tensor(Ids).unsqueeze(0));
        Assert.Equal(ScalarType.BFloat16, logits.dtype);
        double largest = expected.abs().max().item<double>(), diff = (expected - logits[0].to(float64)).abs().max().item<double>();
        output.WriteLine($"{name}: bf16 max |diff| {diff:E2} ({diff / largest:P1} of the largest logit)");
        TensorAssert.Close(expected, logits[0], 0.06 * largest);
    }

    /// <summary>HfModels.Export writes exactly the keys and shapes transformers' class holds (Conv1D's (in, out) for GPT-2).</summary>
    private void AssertExportedLayout(TorchSharp.torch.nn.Module model, IEnumerable<(string Key, long[] Shape)> layout)
    {
        string path = Path.Combine(Directory.CreateDirectory(Path.Combine(Folder.FullName, "exported")).FullName, "model.safetensors");
        HfModels.Export(model, path);
        using var file = SafetensorsFile.Open(path);
        var expected = layout.ToDictionary(k => k.Key, k => k.Shape);
        Assert.Equal(expected.Keys.Order(), file.Entries.Select(e => e.Name).Order());
        foreach (var entry in file.Entries) Assert.Equal(expected[entry.Name], entry.Shape);
    }

    [Fact]
    public void GPT2_logits_match_modeling_gpt2()
    {
        var shapes = new List<(string, long[])> { ("wte.weight", [Vocab, Hidden]), ("wpe.weight", [Positions, Hidden]) };   // saved from GPT2Model: no prefix
        for (int l = 0; l < Layers; l++)
            shapes.AddRange([
                ($"h.{l}.ln_1.weight", [Hidden]), ($"h.{l}.ln_1.bias", [Hidden]),
                ($"h.{l}.attn.c_attn.weight", [Hidden, 3 * Hidden]), ($"h.{l}.attn.c_attn.bias", [3 * Hidden]),   // Conv1D: (in, out)
                ($"h.{l}.attn.c_proj.weight", [Hidden, Hidden]), ($"h.{l}.attn.c_proj.bias", [Hidden]),
                ($"h.{l}.ln_2.weight", [Hidden]), ($"h.{l}.ln_2.bias", [Hidden]),
                ($"h.{l}.mlp.c_fc.weight", [Hidden, Intermediate]), ($"h.{l}.mlp.c_fc.bias", [Intermediate]),
                ($"h.{l}.mlp.c_proj.weight", [Intermediate, Hidden]), ($"h.{l}.mlp.c_proj.bias", [Hidden])]);
        shapes.AddRange([("ln_f.weight", [Hidden]), ("ln_f.bias", [Hidden])]);
        var w = Write($$"""{"model_type": "gpt2", "n_embd": {{Hidden}}, "n_inner": {{Intermediate}}, "n_layer": {{Layers}}, "n_head": {{Heads}}, "vocab_size": {{Vocab}}, "n_positions": {{Positions}}, "layer_norm_epsilon": 1e-5}""",
            shapes, seed: 310);

        using var scope = NewDisposeScope();
        Tensor Conv1D(Tensor x, string module) => x.matmul(w[module + ".weight"]) + w[module + ".bias"];   // x·W + b, W (in, out)
        var h = w["wte.weight"].index_select(0, tensor(Ids)) + w["wpe.weight"].narrow(0, 0, Ids.Length);   // (s, H)
        for (int l = 0; l < Layers; l++)
        {
            string p = $"h.{l}.";
            var qkv = Conv1D(LayerNorm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5), p + "attn.c_attn");   // (s, 3H): q, k, v
            h = h + Conv1D(Attend(qkv.narrow(1, 0, Hidden), qkv.narrow(1, Hidden, Hidden), qkv.narrow(1, 2 * Hidden, Hidden), Heads), p + "attn.c_proj");
            h = h + Conv1D(GeluNew(Conv1D(LayerNorm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5), p + "mlp.c_fc")), p + "mlp.c_proj");
        }
        var expected = LayerNorm(h, w["ln_f.weight"], w["ln_f.bias"], 1e-5).matmul(w["wte.weight"].t());   // tied lm_head

        using var model = HfModels.Load(Folder.FullName);
        using var logits = model.forward(tensor(Ids).unsqueeze(0));
        output.WriteLine($"gpt2: fp32 max |diff| {(expected - logits[0].to(float64)).abs().max().item<double>():E2}");
        TensorAssert.Close(expected, logits[0], 1e-4);
        AssertBf16Close(expected, "gpt2");
        AssertExportedLayout(model, shapes.Select(k => ("transformer." + k.Item1, k.Item2)));   // save_pretrained's keys carry the prefix
    }

    [Fact]
    public void Phi2_logits_match_modeling_phi()
    {
        const int kv = Hidden / 2;                                                          // 2 key/value heads of 8
        const double rotaryFraction = 0.5;
        var shapes = new List<(string, long[])> { ("model.embed_tokens.weight", [Vocab, Hidden]) };
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            shapes.AddRange([
                (p + "input_layernorm.weight", [Hidden]), (p + "input_layernorm.bias", [Hidden]),
                (p + "self_attn.q_proj.weight", [Hidden, Hidden]), (p + "self_attn.q_proj.bias", [Hidden]),
                (p + "self_attn.k_proj.weight", [kv, Hidden]), (p + "self_attn.k_proj.bias", [kv]),
                (p + "self_attn.v_proj.weight", [kv, Hidden]), (p + "self_attn.v_proj.bias", [kv]),
                (p + "self_attn.dense.weight", [Hidden, Hidden]), (p + "self_attn.dense.bias", [Hidden]),
                (p + "mlp.fc1.weight", [Intermediate, Hidden]), (p + "mlp.fc1.bias", [Intermediate]),
                (p + "mlp.fc2.weight", [Hidden, Intermediate]), (p + "mlp.fc2.bias", [Hidden])]);
        }
        shapes.AddRange([("model.final_layernorm.weight", [Hidden]), ("model.final_layernorm.bias", [Hidden]), ("lm_head.weight", [Vocab, Hidden]), ("lm_head.bias", [Vocab])]);
        var w = Write($$"""{"model_type": "phi", "hidden_size": {{Hidden}}, "intermediate_size": {{Intermediate}}, "num_hidden_layers": {{Layers}}, "num_attention_heads": {{Heads}}, "num_key_value_heads": 2, "vocab_size": {{Vocab}}, "partial_rotary_factor": {{rotaryFraction}}, "rope_theta": 10000.0, "layer_norm_eps": 1e-5}""",
            shapes, seed: 311);

        using var scope = NewDisposeScope();
        int s = Ids.Length, d = Hidden / Heads, r = (int)(d * rotaryFraction);
        Tensor Linear(Tensor x, string module) => x.matmul(w[module + ".weight"].t()) + w[module + ".bias"];
        Tensor Rotate(Tensor x, int heads)                                                  // (s, heads·d): the first r of each head's d turned
        {
            var angles = new double[s * (r / 2)];
            for (int pos = 0; pos < s; pos++)
                for (int i = 0; i < r / 2; i++) angles[pos * (r / 2) + i] = pos * Math.Pow(10000, -2.0 * i / r);
            var angle = tensor(angles).view(s, 1, r / 2);
            var x3 = x.view(s, heads, d);
            var (x1, x2) = (x3.narrow(-1, 0, r / 2), x3.narrow(-1, r / 2, r / 2));
            return cat([x1 * angle.cos() - x2 * angle.sin(), x2 * angle.cos() + x1 * angle.sin(), x3.narrow(-1, r, d - r)], -1).view(s, heads * d);
        }
        var h = w["model.embed_tokens.weight"].index_select(0, tensor(Ids));
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var x = LayerNorm(h, w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"], 1e-5);
            var q = Rotate(Linear(x, p + "self_attn.q_proj"), Heads);
            var k = Rotate(Linear(x, p + "self_attn.k_proj"), 2).view(s, 2, 1, d).expand(s, 2, 2, d).reshape(s, Hidden);   // repeat_kv
            var v = Linear(x, p + "self_attn.v_proj").view(s, 2, 1, d).expand(s, 2, 2, d).reshape(s, Hidden);
            var attention = Linear(Attend(q, k, v, Heads), p + "self_attn.dense");
            var mlp = Linear(GeluNew(Linear(x, p + "mlp.fc1")), p + "mlp.fc2");
            h = h + attention + mlp;                                                       // parallel: both read the same norm
        }
        var expected = Linear(LayerNorm(h, w["model.final_layernorm.weight"], w["model.final_layernorm.bias"], 1e-5), "lm_head");

        using var model = HfModels.Load(Folder.FullName);
        using var logits = model.forward(tensor(Ids).unsqueeze(0));
        output.WriteLine($"phi: fp32 max |diff| {(expected - logits[0].to(float64)).abs().max().item<double>():E2}");
        TensorAssert.Close(expected, logits[0], 1e-4);
        AssertBf16Close(expected, "phi");
        AssertExportedLayout(model, shapes);
    }
}
