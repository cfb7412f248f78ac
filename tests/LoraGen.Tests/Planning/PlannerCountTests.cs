using LoraGen.Planning;

namespace LoraGen.Tests.Planning;

public class PlannerCountTests
{
    private static TrainingPlan Lora(string preset, int rank, params string[] targets) =>
        Planner.Plan(new PlanRequest(ModelPresets.Get(preset), TrainingMethod.Lora, rank, 2 * rank, targets));

    [Fact]
    public void Llama3_8B_at_r16_all_linear_prints_peft_line_to_the_digit()
    {
        var plan = Lora("llama-3-8b", 16, Planner.AllLinear);
        Assert.Equal("trainable params: 41,943,040 || all params: 8,072,204,288 || trainable%: 0.5196", plan.Parameters.ToString());
    }

    [Fact]
    public void The_widely_copied_Llama3_8B_line_is_r32s_count()
    {
        // 83,886,080 is the figure often quoted for r = 16: it is what r = 32 gives.
        Assert.Equal(83_886_080, Lora("llama-3-8b", 32, Planner.AllLinear).Parameters.Trainable);
    }

    [Theory]
    [InlineData("llama-2-7b", 6_738_415_616)]      // published parameter counts of the checkpoints
    [InlineData("llama-3-8b", 8_030_261_248)]
    [InlineData("mistral-7b", 7_241_732_096)]
    [InlineData("qwen2-0.5b", 494_032_768)]        // tied embeddings counted once; q/k/v biases
    [InlineData("gpt2", 124_439_808)]
    [InlineData("phi-2", 2_779_683_840)]
    [InlineData("llama-2-70b", 68_976_648_192)]
    public void Base_parameter_counts_match_the_published_models(string preset, long expected)
    {
        Assert.Equal(expected, Planner.Plan(new PlanRequest(ModelPresets.Get(preset), TrainingMethod.Full, 0, 1, [])).BaseParameters);
    }

    [Fact]
    public void Llama2_7B_q_v_at_r8_is_peft_readme_count()
    {
        // peft's README: 4,194,304 trainable for Llama-2-7B with r=8 on q_proj, v_proj.
        var plan = Lora("llama-2-7b", 8, "q_proj", "v_proj");
        Assert.Equal(4_194_304, plan.Parameters.Trainable);
        Assert.Equal(["model.layers.{i}.self_attn.q_proj", "model.layers.{i}.self_attn.v_proj"], plan.Modules.Select(m => m.Pattern));
        Assert.All(plan.Modules, m => Assert.Equal(32, m.Instances));
    }

    [Fact]
    public void All_linear_excludes_lm_head_but_a_name_can_choose_it()
    {
        var all = Lora("llama-2-7b", 8, Planner.AllLinear);
        Assert.DoesNotContain(all.Modules, m => m.Pattern == "lm_head");
        var head = Lora("llama-2-7b", 8, "lm_head");
        Assert.Equal(8L * (4096 + 32000), head.Parameters.Trainable);
    }

    [Fact]
    public void An_index_specific_name_matches_one_layer_only()
    {
        var plan = Lora("llama-2-7b", 8, "model.layers.0.self_attn.q_proj");
        Assert.Equal(8L * 8192, plan.Parameters.Trainable);
    }

    [Fact]
    public void Dora_adds_one_magnitude_per_output_feature()
    {
        var request = new PlanRequest(ModelPresets.Get("llama-2-7b"), TrainingMethod.Dora, 8, 16, ["q_proj"]);
        Assert.Equal(32L * (8 * 8192 + 4096), Planner.Plan(request).Parameters.Trainable);
    }

    [Fact]
    public void The_4096_square_table_regenerates()
    {
        var square = new ModelConfig("llama", ModelFamily.Llama, 4096, 4096, 1, 32, 32, 1, true);
        long Trainable(int r) => Planner.Plan(new PlanRequest(square, TrainingMethod.Lora, r, r, ["model.layers.0.self_attn.q_proj"])).Parameters.Trainable;
        Assert.Equal(65_536, Trainable(8));
        Assert.Equal(131_072, Trainable(16));
        Assert.Equal(524_288, Trainable(64));
    }

    [Fact]
    public void Seventy_B_full_fine_tuning_needs_16_bytes_per_parameter_not_12()
    {
        var plan = Planner.Plan(new PlanRequest(ModelPresets.Get("llama-2-70b"), TrainingMethod.Full, 0, 1, [], 1, 1));
        long n = plan.BaseParameters;
        Assert.Equal(16 * n, plan.Memory.Weights + plan.Memory.Gradients + plan.Memory.OptimizerStates);
        Assert.Equal(12 * n, plan.Memory.OptimizerStates);     // fp32 master copy + two fp32 moments
    }

    [Fact]
    public void QLoRA_stores_block_linears_at_4_127_bits_and_the_rest_at_16()
    {
        var config = ModelPresets.Get("llama-2-70b");
        var qlora = Planner.Plan(new PlanRequest(config, TrainingMethod.Qlora, 16, 32, [Planner.AllLinear], 1, 1));
        var inventory = ModelInventory.For(config);
        long linearWeights = inventory.Linears.Where(l => !l.IsOutputHead).Sum(l => l.In * l.Out * l.Instances);
        long rest = inventory.TotalParameters - linearWeights;
        long adapters = qlora.Parameters.Trainable;
        double bits = 8.0 * (qlora.Memory.Weights - 2 * rest - 4 * adapters) / linearWeights;
        Assert.InRange(bits, 4.1269, 4.1271);
        using var weight = TorchSharp.torch.zeros(1024, 4096);
        using var quantized = LoraGen.Quantization.QuantizedWeight.Quantize(weight);
        Assert.Equal(quantized.StorageBytes, Planner.QuantizedBytes(1024L * 4096));   // what is really allocated
    }

    [Fact]
    public void Two_names_for_the_same_layer_count_it_once_and_an_index_peft_would_not_match_counts_nothing()
    {
        var config = ModelPresets.Get("llama-3-8b");
        var once = Planner.Plan(new PlanRequest(config, TrainingMethod.Lora, 16, 32, ["layers.0.self_attn.q_proj", "model.layers.0.self_attn.q_proj"]));
        Assert.Equal(16L * (4096 + 4096), once.Parameters.Trainable);
        var error = Assert.Throws<PlanException>(() => Planner.Plan(new PlanRequest(config, TrainingMethod.Lora, 16, 32, ["layers.03.self_attn.q_proj"])));
        Assert.Contains("'layers.03.self_attn.q_proj' matches no Linear module", error.Message);
    }
}
