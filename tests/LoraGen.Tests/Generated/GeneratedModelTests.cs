using LoraGen.Layers;
using LoraGen.Planning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LoraGen.Tests.Generated;

// A real model written with the DSL; the generator runs on this project through the runtime's reference.
// It mixes bias modes and DoRA within one adapter on purpose, to test them together: LORA013 says that peft's
// files could not hold such an adapter, which these tests never save.
#pragma warning disable LORA013
public sealed partial class TinyAttention : Module<Tensor, Tensor>
{
    [LoraTarget(r: 4, alpha: 8, Bias = LoraBias.LoraOnly)] private Module<Tensor, Tensor> q_proj = Linear(16, 16);
    private Module<Tensor, Tensor> k_proj = Linear(16, 16);
    [LoraTarget(r: 4, alpha: 8, UseDora = true)] private Module<Tensor, Tensor> v_proj = Linear(16, 16);
    private Module<Tensor, Tensor> o_proj = Linear(16, 16);

    public TinyAttention() : base(nameof(TinyAttention)) => RegisterComponents();

    /// <param name="x">(batch, 16)</param>
    public override Tensor forward(Tensor x)
    {
        using var q = q_proj.forward(x);
        using var k = k_proj.forward(x);
        using var v = v_proj.forward(x);
        using var gate = (q * k).sigmoid();
        using var mixed = gate * v;
        return o_proj.forward(mixed);
    }
}

public sealed partial class TinyBlock : Module<Tensor, Tensor>
{
    private TinyAttention self_attn = new();

    internal TinyAttention Attention => self_attn;
    private Module<Tensor, Tensor> up_proj = Linear(16, 32);
    private Module<Tensor, Tensor> down_proj = Linear(32, 16);

    public TinyBlock() : base(nameof(TinyBlock)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        using var attended = self_attn.forward(x);
        using var h = x + attended;
        using var up = up_proj.forward(h);
        using var act = functional.gelu(up);
        using var down = down_proj.forward(act);
        return h + down;
    }
}

[LoraTarget(r: 8, alpha: 16, Modules = ["k_proj", "o_proj", "up_proj", "down_proj"])]
public sealed partial class TinyModel : Module<Tensor, Tensor>
{
    private ModuleList<TinyBlock> layers = new(new TinyBlock(), new TinyBlock());

    /// <summary>For tests: the first block's attention.</summary>
    internal TinyAttention FirstAttention => layers[0].Attention;
    private Module<Tensor, Tensor> lm_head = Linear(16, 10);

    public TinyModel() : base(nameof(TinyModel)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var h = x;
        foreach (var layer in layers)
        {
            var next = layer.forward(h);
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
        }
        using (h) return lm_head.forward(h);
    }
}

// Layers handed in by the caller: the source does not show what they are, so only run time can tell.
[LoraTarget(r: 2, alpha: 4)]
public sealed partial class GivenLayers : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> q_proj;
    private Module<Tensor, Tensor> v_proj;

    public GivenLayers(Module<Tensor, Tensor> q, Module<Tensor, Tensor> v) : base(nameof(GivenLayers))
    {
        q_proj = q;
        v_proj = v;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => v_proj.forward(q_proj.forward(x));
}

public class GeneratedModelTests
{
    /// <summary>AdamW on the LoRA parameters, classifying a fixed random batch; returns the first and last loss.</summary>
    private static (double First, double Last) Train(TinyModel model, int steps)
    {
        using var optimizer = optim.AdamW(model.LoraParameters(), lr: 1e-2);
        using var x = randn(32, 16);
        using var y = randint(0, 10, [32]);
        double first = 0, last = 0;
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = functional.cross_entropy(model.forward(x), y);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        return (first, last);
    }

    [Fact]
    public void A_failed_ApplyLora_names_the_layer_and_leaves_the_model_as_it_was()
    {
        using var model = new GivenLayers(Linear(4, 4), ReLU());
        var error = Assert.Throws<InvalidOperationException>(() => model.ApplyLora());
        Assert.Contains("LoRA target 'v_proj' of GivenLayers holds a ReLU; only Linear layers (dense or 4-bit) can be adapted", error.Message);
        Assert.Throws<InvalidOperationException>(() => model.QProjLora);      // q_proj was not replaced either
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));   // nothing frozen
    }

    [Fact]
    public void The_compile_time_plan_lists_every_target_with_its_settings_and_sizes()
    {
        // Field-level targets of TinyAttention and the class-level module names of TinyModel, together.
        var plan = TinyModel.LoraPlan.ToDictionary(e => e.Path);
        Assert.Equal(
            ["layers.{i}.self_attn.q_proj", "layers.{i}.self_attn.k_proj", "layers.{i}.self_attn.v_proj", "layers.{i}.self_attn.o_proj",
             "layers.{i}.up_proj", "layers.{i}.down_proj"],
            TinyModel.LoraPlan.Select(e => e.Path));
        Assert.Equal(new LoraPlanEntry("layers.{i}.self_attn.q_proj", 4, 8, 2, false, 16, 16, 4 * 32), plan["layers.{i}.self_attn.q_proj"]);
        Assert.Equal(new LoraPlanEntry("layers.{i}.self_attn.v_proj", 4, 8, 2, true, 16, 16, 4 * 32 + 16), plan["layers.{i}.self_attn.v_proj"]);
        Assert.Equal(new LoraPlanEntry("layers.{i}.up_proj", 8, 16, 2, false, 16, 32, 8 * 48), plan["layers.{i}.up_proj"]);
    }

    [Fact]
    public void ApplyLora_injects_with_peft_names_and_freezes_everything_else()
    {
        manual_seed(40);
        using var model = new TinyModel();
        var adapted = model.ApplyLora();
        Assert.Equal(12, adapted.Count);   // 6 targets in each of 2 blocks

        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("layers.0.self_attn.q_proj.base_layer.weight", names);
        Assert.Contains("layers.1.self_attn.q_proj.lora_A.default.weight", names);
        Assert.Contains("layers.1.self_attn.v_proj.lora_magnitude_vector.default.weight", names);
        Assert.Contains("layers.0.down_proj.lora_B.default.weight", names);
        Assert.Contains("lm_head.weight", names);

        var trainable = model.LoraParameters().ToArray();
        var trainableNames = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToArray();
        Assert.Equal(trainable.Length, trainableNames.Length);
        Assert.All(trainableNames, n => Assert.True(n.Contains(".lora_") || n.EndsWith("q_proj.base_layer.bias"), n));
        Assert.Contains("layers.0.self_attn.q_proj.base_layer.bias", trainableNames);    // Bias = LoraOnly on q_proj
        // Per block: q 4·32 + k 8·32 + v 4·32+16 + o 8·32 + up 8·48 + down 8·48, plus q's bias 16.
        long perBlock = 128 + 256 + 144 + 256 + 384 + 384 + 16;
        Assert.Equal(2 * perBlock, ParameterSummary.Of(model).Trainable);
    }

    [Fact]
    public void Typed_accessors_reach_the_adapted_layers()
    {
        using var attention = new TinyAttention();
        Assert.Throws<InvalidOperationException>(() => attention.QProjLora);
        attention.ApplyLora();
        Assert.Equal(4, attention.QProjLora.Adapter("default").Config.R);
        Assert.True(attention.VProjLora.Adapter("default").Config.UseDora);
        Assert.Equal("q_proj", attention.QProjLora.GetName());
    }

    [Fact]
    public void ApplyLora_is_idempotent_for_a_name_and_adds_a_second_adapter_for_another()
    {
        using var model = new TinyModel();
        model.ApplyLora();
        long once = ParameterSummary.Of(model).All;
        model.ApplyLora();
        Assert.Equal(once, ParameterSummary.Of(model).All);
        model.ApplyLora("second");
        Assert.True(ParameterSummary.Of(model).All > once);
        Assert.Contains(model.named_parameters(), p => p.name == "layers.0.up_proj.lora_A.second.weight");
    }

    [Fact]
    public void A_training_step_moves_only_adapters_and_merged_equals_unmerged()
    {
        manual_seed(41);
        using var model = new TinyModel();
        model.ApplyLora();
        var frozen = model.named_parameters().Where(p => !p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.clone());
        var (first, last) = Train(model, steps: 30);
        Assert.True(last < first, $"loss {first} -> {last}");
        foreach (var (name, parameter) in model.named_parameters().Where(p => frozen.ContainsKey(p.name)))
            TensorAssert.BitwiseEqual(frozen[name], parameter);

        model.eval();
        using var probe = randn(8, 16);
        using var unmerged = model.forward(probe);
        model.MergeLora(safe: true);
        Assert.True(model.IsLoraMerged);
        using var merged = model.forward(probe);
        // fp32 rounding, compounded over 12 merged layers in sequence: relative to the size of the logits.
        double tolerance = 1e-5 * Math.Max(1, unmerged.abs().max().item<float>());
        TensorAssert.Close(unmerged, merged, tolerance);
        model.UnmergeLora();
        Assert.False(model.IsLoraMerged);
        using var restored = model.forward(probe);
        TensorAssert.Close(unmerged, restored, tolerance);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void QLoRA_via_QuantizeBase_trains_and_keeps_lm_head_dense(bool quantizeFirst)
    {
        manual_seed(42);
        using var model = new TinyModel();
        if (quantizeFirst) Assert.Equal(12, model.QuantizeBase());     // 6 Linear layers per block, lm_head skipped
        model.ApplyLora();
        if (!quantizeFirst) Assert.Equal(12, model.QuantizeBase());

        var names = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(ScalarType.Byte, names["layers.0.self_attn.q_proj.base_layer.weight"].dtype);
        Assert.Equal(ScalarType.Byte, names["layers.1.up_proj.base_layer.weight"].dtype);
        Assert.Equal(ScalarType.Float32, names["lm_head.weight"].dtype);
        Assert.NotNull(model.FirstAttention.QProjLora.QuantizedBase);

        var (first, last) = Train(model, steps: 30);
        Assert.True(last < 0.9 * first, $"QLoRA loss {first} -> {last}");
        Assert.All(model.named_parameters().Where(p => p.parameter.dtype == ScalarType.Byte), p => Assert.False(p.parameter.requires_grad));
    }

    /// <summary>Every parameter and buffer (4-bit codes and their absmax state included).</summary>
    private static IEnumerable<(string Name, Tensor Tensor)> State(nn.Module model) =>
        model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.named_buffers().Select(b => (b.name, b.buffer)));

    /// <summary>Every adapted layer of the model.</summary>
    private static LoraLinear[] AdaptedLayers(TinyModel model) =>
        model.modules().OfType<LoraLinear>().ToArray();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_refused_model_merge_changes_no_layer(bool quantized)
    {
        manual_seed(43);
        using var model = new TinyModel();
        if (quantized) model.QuantizeBase();
        model.ApplyLora();
        var layers = AdaptedLayers(model);
        foreach (var layer in layers) Layers.LayerFactory.Randomize(layer, seed: 44);
        // The last layer's update overflows: a safe merge must refuse before touching the layers before it.
        var last = layers[^1];
        using (no_grad()) last.Adapter("default").B.weight.fill_(float.MaxValue);
        var before = State(model).ToDictionary(p => p.Name, p => p.Tensor.clone());

        var error = Assert.Throws<InvalidOperationException>(() => model.MergeLora(safe: true));
        Assert.Contains($"LoraLinear '{last.GetName()}'", error.Message);
        Assert.Contains("non-finite", error.Message);
        Assert.False(model.IsLoraMerged);
        Assert.All(layers, layer => Assert.False(layer.IsMerged, $"{layer.GetName()} was merged"));
        foreach (var (name, tensor) in State(model))
            TensorAssert.BitwiseEqual(before[name], tensor);
    }

    [Fact]
    public void A_model_merge_either_merges_every_layer_or_none_and_the_flag_agrees()
    {
        manual_seed(45);
        using var model = new TinyModel();
        model.ApplyLora();
        model.MergeLora(safe: true);
        Assert.True(model.IsLoraMerged);
        Assert.All(AdaptedLayers(model), layer => Assert.Equal(["default"], layer.MergedAdapters));
        Assert.Throws<InvalidOperationException>(() => model.MergeLora());   // nothing left to merge
        model.UnmergeLora();
        Assert.All(AdaptedLayers(model), layer => Assert.False(layer.IsMerged));
    }
}
