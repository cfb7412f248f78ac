using System.Text.Json;

namespace LoraGen.Tests.Planning;

/// <summary>The `loragen plan` contract: JSON fields, exit code 2 with a message naming the field on bad input.</summary>
[Collection(nameof(ConsoleOutput))]
public class PlanCommandTests
{
    private static (int Exit, string Out, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Json_carries_peft_counts_and_every_memory_figure_in_bytes()
    {
        var (exit, json, _) = Run("plan", "--preset", "llama-3-8b", "--rank", "16", "--targets", "all-linear", "--format", "json", "--batch", "2", "--seq", "512");
        Assert.Equal(0, exit);
        var root = JsonDocument.Parse(json).RootElement;
        Assert.Equal(41_943_040, root.GetProperty("trainable_params").GetInt64());
        Assert.Equal(8_072_204_288, root.GetProperty("all_params").GetInt64());
        Assert.Equal(0.5196, root.GetProperty("trainable_percent").GetDouble());
        long parts = new[] { "weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes", "logits_bytes" }
            .Sum(name => root.GetProperty(name).GetInt64());
        Assert.Equal(root.GetProperty("total_bytes").GetInt64(), parts);
        Assert.True(root.GetProperty("total_checkpointed_bytes").GetInt64() < root.GetProperty("total_bytes").GetInt64());
        Assert.Equal(7, root.GetProperty("modules").GetArrayLength());
    }

    [Fact]
    public void A_config_file_is_read_and_its_errors_exit_2()
    {
        var folder = Directory.CreateTempSubdirectory("loragen-plan-");
        try
        {
            var path = Path.Combine(folder.FullName, "config.json");
            File.WriteAllText(path, """{"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257, "n_positions": 1024}""");
            var (exit, json, _) = Run("plan", "--config", path, "--method", "full", "--format", "json");
            Assert.Equal(0, exit);
            Assert.Equal(124_439_808, JsonDocument.Parse(json).RootElement.GetProperty("trainable_params").GetInt64());

            File.WriteAllText(path, """{"model_type": "gpt2", "n_embd": 768, "n_layer": -1}""");
            var (badExit, _, error) = Run("plan", "--config", path, "--method", "full");
            Assert.Equal(2, badExit);
            Assert.Contains($"{path}: field 'n_layer' must be positive; got -1", error);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("q_prj", "targets: 'q_prj' matches no Linear module of this model")]
    [InlineData(",", "targets: the list is empty")]
    public void Targets_that_match_nothing_exit_2(string targets, string message)
    {
        var (exit, _, error) = Run("plan", "--preset", "llama-2-7b", "--rank", "8", "--targets", targets);
        Assert.Equal(2, exit);
        Assert.Contains(message, error);
    }

    [Fact]
    public void A_rank_above_the_layer_sizes_exits_2_naming_the_module()
    {
        var (exit, _, error) = Run("plan", "--preset", "smollm-135m", "--rank", "600", "--targets", "k_proj");
        Assert.Equal(2, exit);
        Assert.Contains("rank 600 is above the size of 'model.layers.{i}.self_attn.k_proj' (576 x 192)", error);
    }

    [Theory]
    [InlineData("--preset", "llama-9b", "unknown preset 'llama-9b'")]
    [InlineData("--method", "lora", "plan needs exactly one of --config PATH or --preset NAME")]
    [InlineData("--rank", "-3", "--rank must be at least 1")]
    public void Usage_mistakes_exit_2(string flag, string value, string message)
    {
        string[] args = flag == "--rank"
            ? ["plan", "--preset", "gpt2", flag, value, "--targets", "c_attn"]
            : ["plan", flag, value, "--rank", "8", "--targets", "all-linear"];
        var (exit, _, error) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(message, error);
    }
}
