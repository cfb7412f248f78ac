using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Tests;

/// <summary>Attribute values as peft takes them: a real alpha, enum members by name.</summary>
public class AttributeValueTests
{
    private static string Generated(string source)
    {
        var input = GeneratorHarness.Compile(Sources.Usings + source);
        var (sources, output, _) = GeneratorHarness.Generate(input);
        GeneratorHarness.AssertNoErrors(output);
        Assert.Empty(GeneratorHarness.Analyze(input).Where(d => d.Severity == DiagnosticSeverity.Error));
        return GeneratorHarness.Joined(sources);
    }

    [Fact]
    public void Alpha_is_a_real_number_as_peft_lora_alpha_and_whole_numbers_still_compile()
    {
        var text = Generated("""
            public partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 4, alpha: 0.5)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                [LoraTarget(r: 4, alpha: 32)] private Module<Tensor, Tensor> v_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        Assert.Contains("new global::LoraGen.Layers.LoraConfig(4, 0.5)", text);
        Assert.Contains("new global::LoraGen.Layers.LoraConfig(4, 32)", text);
        Assert.Contains("""new("q_proj", 4, 0.5, 0.125, false, 8, 8, 64)""", text);
    }

    [Fact]
    public void An_infinite_alpha_is_LORA002()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + """
            public partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 4, alpha: double.PositiveInfinity)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        var d = Assert.Single(GeneratorHarness.Analyze(compilation), x => x.Id == "LORA002");
        Assert.Equal("[LoraTarget] on 'q_proj': alpha must be a positive finite number; got Infinity", d.GetMessage());
    }

    [Fact]
    public void Settings_name_the_runtime_enum_members()
    {
        var text = Generated("""
            public partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 4, alpha: 8, Init = LoraInit.Gaussian, Bias = LoraBias.LoraOnly)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        Assert.Contains("Init = global::LoraGen.Layers.LoraInit.Gaussian, Bias = global::LoraGen.Layers.LoraBias.LoraOnly", text);
    }
}
