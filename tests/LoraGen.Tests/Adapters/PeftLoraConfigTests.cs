using LoraGen.Adapters;
using LoraGen.Layers;

namespace LoraGen.Tests.Adapters;

/// <summary>Which modules a config adapts and with which rank, by peft's rules (tuners_utils.check_target_module_exists, get_pattern_key).</summary>
public class PeftLoraConfigTests
{
    private const string Q0 = "model.layers.0.self_attn.q_proj", Q1 = "model.layers.1.self_attn.q_proj", Expert = "model.layers.3.mlp.experts.5.w1";

    public static TheoryData<string, PeftLoraConfig, string, bool> Targeting() => new()
    {
        { "a name matches the last segment", new() { TargetModules = ModuleSelector.Names("q_proj") }, Q0, true },
        { "a name matches whole segments only", new() { TargetModules = ModuleSelector.Names("proj") }, Q0, false },
        { "a dotted name matches a dotted suffix", new() { TargetModules = ModuleSelector.Names("self_attn.q_proj") }, Q0, true },
        { "a string is a regex over the whole path", new() { TargetModules = ModuleSelector.Pattern(@".*\.q_proj") }, Q0, true },
        { "a regex must match the whole path", new() { TargetModules = ModuleSelector.Pattern("q_proj") }, Q0, false },
        { "exclude_modules as a list wins over targets", new() { TargetModules = ModuleSelector.Names("q_proj"), ExcludeModules = ModuleSelector.Names("layers.1.self_attn.q_proj") }, Q1, false },
        { "exclude_modules as a regex", new() { TargetModules = ModuleSelector.Names("q_proj"), ExcludeModules = ModuleSelector.Pattern(@".*\.0\..*") }, Q0, false },
        { "excluded elsewhere, kept here", new() { TargetModules = ModuleSelector.Names("q_proj"), ExcludeModules = ModuleSelector.Pattern(@".*\.0\..*") }, Q1, true },
        { "layers_to_transform keeps its layers", new() { TargetModules = ModuleSelector.Names("q_proj"), LayersToTransform = [0] }, Q0, true },
        { "layers_to_transform drops the others", new() { TargetModules = ModuleSelector.Names("q_proj"), LayersToTransform = [0] }, Q1, false },
        { "an exact path in the list skips the layer filter, as in peft", new() { TargetModules = ModuleSelector.Names(Q1), LayersToTransform = [0] }, Q1, true },
        { "the first index after a named segment (not the expert index)", new() { TargetModules = ModuleSelector.Names("w1"), LayersToTransform = [3] }, Expert, true },
        { "layers_pattern names the list", new() { TargetModules = ModuleSelector.Names("w1"), LayersToTransform = [5], LayersPattern = ["experts"] }, Expert, true },
        { "a path without a segment before the list has no index", new() { TargetModules = ModuleSelector.Names("fc"), LayersToTransform = [0] }, "layers.0.fc", false },
        { "all-linear takes a Linear", new() { TargetModules = ModuleSelector.AllLinear }, Q0, true },
        { "all-linear never takes lm_head", new() { TargetModules = ModuleSelector.AllLinear }, "lm_head", false },
        { "modules_to_save are never targets", new() { TargetModules = ModuleSelector.AllLinear, ModulesToSave = ["score"] }, "score", false },
    };

    [Theory]
    [MemberData(nameof(Targeting))]
    public void Targets_follow_peft(string rule, PeftLoraConfig config, string path, bool expected)
    {
        Assert.True(expected == config.Targets(path, isLinear: true), rule);
    }

    [Fact]
    public void All_linear_never_takes_a_layer_that_is_not_Linear()
    {
        Assert.False(new PeftLoraConfig { TargetModules = ModuleSelector.AllLinear }.Targets("model.embed_tokens", isLinear: false));
    }

    [Fact]
    public void Pattern_keys_match_as_an_anchored_suffix_and_the_first_match_wins()
    {
        var config = new PeftLoraConfig
        {
            R = 8, LoraAlpha = 16, TargetModules = ModuleSelector.Names("q_proj"),
            RankPattern = new Dictionary<string, int> { ["q_proj"] = 2, [@"layers\.1\..*"] = 4 },
            AlphaPattern = new Dictionary<string, double> { [@"layers\.1\.self_attn\.q_proj"] = 3 },
        };
        Assert.Equal((2, 16.0), (config.LayerConfigFor(Q0).R, config.LayerConfigFor(Q0).Alpha));
        Assert.Equal((2, 3.0), (config.LayerConfigFor(Q1).R, config.LayerConfigFor(Q1).Alpha));     // "q_proj" comes first
        Assert.Equal(8, config.LayerConfigFor("model.layers.0.self_attn.xq_proj").R);               // not a whole segment
        Assert.Equal(4, config.LayerConfigFor("model.layers.1.mlp.up_proj").R);
    }

    [Fact]
    public void Settings_shared_by_every_layer_come_from_the_config()
    {
        var settings = new PeftLoraConfig { TargetModules = ModuleSelector.AllLinear, LoraDropout = 0.1, UseRsLora = true, UseDora = true, InitLoraWeights = LoraInit.Gaussian, Bias = LoraBias.All }
            .LayerConfigFor(Q0);
        Assert.Equal(new LoraConfig(8, 8) { Dropout = 0.1, UseRsLora = true, UseDora = true, Init = LoraInit.Gaussian, Bias = LoraBias.All }, settings);
    }

    [Theory]
    [InlineData("layers_pattern without layers_to_transform", "layers_pattern is set without layers_to_transform")]
    [InlineData("layers_to_transform with a regex", "layers_to_transform works only with a list of target_modules")]
    [InlineData("no targets", "target_modules is required")]
    [InlineData("bad rank pattern", "rank_pattern['q_proj'] must be at least 1; got 0")]
    public void Configurations_peft_refuses_are_refused_with_the_field(string rule, string message)
    {
        var config = rule switch
        {
            "layers_pattern without layers_to_transform" => new PeftLoraConfig { TargetModules = ModuleSelector.Names("q_proj"), LayersPattern = ["layers"] },
            "layers_to_transform with a regex" => new PeftLoraConfig { TargetModules = ModuleSelector.Pattern(".*q_proj"), LayersToTransform = [0] },
            "no targets" => new PeftLoraConfig(),
            _ => new PeftLoraConfig { TargetModules = ModuleSelector.Names("q_proj"), RankPattern = new Dictionary<string, int> { ["q_proj"] = 0 } },
        };
        var error = Assert.Throws<ArgumentException>(config.Validate);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Init_lora_weights_false_keeps_the_Linear_default_so_the_adapter_is_not_a_no_op()
    {
        using var model = new RuntimeClassifier();
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("score"), InitLoraWeights = LoraInit.LinearDefault });
        var adapter = ModelAdapters.Layers(model).Single().Adapter("default");
        Assert.True(adapter.B.weight.abs().sum().item<float>() > 0);
        var gaussian = new RuntimeClassifier();
        using (gaussian)
        {
            gaussian.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("score"), InitLoraWeights = LoraInit.Gaussian });
            Assert.Equal(0, ModelAdapters.Layers(gaussian).Single().Adapter("default").B.weight.abs().sum().item<float>());
        }
    }
}
