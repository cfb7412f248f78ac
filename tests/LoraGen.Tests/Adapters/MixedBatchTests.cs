using LoraGen.Adapters;
using LoraGen.Layers;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Tests.Adapters;

/// <summary>Mixed-adapter batches (peft's adapter_names, S-LoRA): each row as if it ran alone with its own adapter.</summary>
public class MixedBatchTests
{
    private static LlamaForCausalLM Model()
    {
        manual_seed(700);
        var model = new LlamaForCausalLM(new ModelConfig("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 40, false));
        // Different ranks, different targets, and a DoRA adapter, as a server's registered adapters would be.
        ModelAdapters.Apply(model, new PeftLoraConfig { R = 2, LoraAlpha = 4, TargetModules = ModuleSelector.AllLinear }, "small");
        ModelAdapters.Apply(model, new PeftLoraConfig { R = 8, LoraAlpha = 8, TargetModules = ModuleSelector.Names("q_proj", "v_proj") }, "large");
        ModelAdapters.Apply(model, new PeftLoraConfig { R = 4, LoraAlpha = 8, UseDora = true, TargetModules = ModuleSelector.AllLinear }, "dora");
        RuntimeModels.Randomize(model, "small", 701);
        RuntimeModels.Randomize(model, "large", 702);
        RuntimeModels.Randomize(model, "dora", 703);
        model.eval();
        return model;
    }

    [Theory]
    [InlineData(MixedBatchStrategy.Segment)]
    [InlineData(MixedBatchStrategy.Gather)]
    public void Every_row_equals_that_row_alone_with_its_adapter(MixedBatchStrategy strategy)
    {
        using var model = Model();
        string?[] rows = ["small", null, "large", "dora", "small", "large"];
        using var ids = randint(0, 40, [rows.Length, 7]);
        using var _ = no_grad();
        Tensor mixed;
        using (ModelAdapters.UseRowAdapters(model, rows, strategy))
        {
            mixed = model.forward(ids);
            using var again = model.forward(ids);                                      // Gather's stacked weights, kept for the scope
            TensorAssert.Close(mixed, again, 0);
        }
        using (mixed)
            for (int row = 0; row < rows.Length; row++)
            {
                using var alone = ids.narrow(0, row, 1);
                Tensor expected;
                if (rows[row] is { } name)
                {
                    model.SetActiveAdapters(name);
                    expected = model.forward(alone);
                }
                else
                    using (model.DisableAdapters()) expected = model.forward(alone);
                using (expected) TensorAssert.Close(expected[0], mixed[row], 1e-5);
            }
    }

    [Fact]
    public void The_rows_differ_by_adapter_so_the_test_above_can_fail()
    {
        using var model = Model();
        using var ids = randint(0, 40, [1, 7]).expand(3, 7).contiguous();            // the same tokens in every row
        using var _ = no_grad();
        using (ModelAdapters.UseRowAdapters(model, ["small", "large", null]))
        using (var logits = model.forward(ids))
        {
            Assert.True((logits[0] - logits[1]).abs().max().item<float>() > 1e-3);
            Assert.True((logits[1] - logits[2]).abs().max().item<float>() > 1e-3);
        }
    }

    [Fact]
    public void Unknown_adapters_wrong_row_counts_and_merged_adapters_are_refused()
    {
        using var model = Model();
        var unknown = Assert.Throws<KeyNotFoundException>(() => ModelAdapters.UseRowAdapters(model, ["small", "nope"]));
        Assert.Contains("'nope'", unknown.Message);
        using var ids = randint(0, 40, [3, 5]);
        using (ModelAdapters.UseRowAdapters(model, ["small", null]))
        {
            var error = Assert.Throws<ArgumentException>(() => model.forward(ids));
            Assert.Contains("2 row adapters for a batch of 3 rows", error.Message);
        }
        model.SetActiveAdapters("small");
        model.MergeLora();
        Assert.Contains("need unmerged adapters", Assert.Throws<InvalidOperationException>(() => ModelAdapters.UseRowAdapters(model, ["small"])).Message);
    }
}
