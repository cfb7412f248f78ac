using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Tests;

/// <summary>One test per diagnostic ID: the ID, where it points, and a message naming the member and the value.</summary>
public class DiagnosticTests
{
    private static Diagnostic Single(string source, string id)
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + source);
        var diagnostics = GeneratorHarness.Analyze(compilation);
        var matching = diagnostics.Where(d => d.Id == id).ToArray();
        Assert.True(matching.Length == 1, $"expected one {id}, got: {string.Join("; ", diagnostics.Select(d => d.ToString()))}");
        // The generator itself never reports (diagnostics belong to the analyzer) and never throws.
        var (_, _, generatorDiagnostics) = GeneratorHarness.Generate(compilation);
        Assert.Empty(generatorDiagnostics);
        return matching[0];
    }

    private static string SourceAt(Diagnostic diagnostic) =>
        diagnostic.Location.SourceTree!.GetText().ToString(diagnostic.Location.SourceSpan);

    private const string AttentionOpen = """
        public partial class Attention : Module<Tensor, Tensor>
        {
            public Attention() : base("attn") { }
            public override Tensor forward(Tensor x) => x;
        """;

    [Fact]
    public void LORA001_rank_below_one_points_at_r()
    {
        var d = Single(AttentionOpen + "[LoraTarget(r: 0, alpha: 32)] private Module<Tensor, Tensor> q_proj = Linear(8, 8); }", "LORA001");
        Assert.Equal("0", SourceAt(d));
        Assert.Equal("[LoraTarget] on 'q_proj': r must be at least 1; got 0", d.GetMessage());
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
    }

    [Fact]
    public void LORA002_alpha_not_positive_points_at_alpha()
    {
        var d = Single(AttentionOpen + "[LoraTarget(16, -2)] private Module<Tensor, Tensor> q_proj = Linear(8, 8); }", "LORA002");
        Assert.Equal("-2", SourceAt(d));
        Assert.Contains("'q_proj': alpha must be a positive finite number; got -2", d.GetMessage());
    }

    [Fact]
    public void LORA003_dropout_out_of_range_points_at_the_dropout()
    {
        var d = Single(AttentionOpen + "[LoraTarget(r: 8, alpha: 16, Dropout = 1.5)] private Module<Tensor, Tensor> v_proj = Linear(8, 8); }", "LORA003");
        Assert.Equal("1.5", SourceAt(d));
        Assert.Contains("'v_proj': Dropout must be in [0, 1); got 1.5", d.GetMessage());
    }

    [Fact]
    public void LORA004_a_class_holding_targets_must_be_partial()
    {
        var d = Single("""
            public class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "LORA004");
        Assert.Equal("Attention", SourceAt(d));
        Assert.Contains("'Attention' must be partial", d.GetMessage());
    }

    [Fact]
    public void LORA004_also_for_a_class_on_the_path_to_a_target()
    {
        var d = Single("""
            public class Block : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                public Block() : base("block") { }
                public override Tensor forward(Tensor x) => x;
            }
            [LoraTarget(r: 4, alpha: 8)]
            public partial class Model : Module<Tensor, Tensor>
            {
                private Block block = new();
                private Module<Tensor, Tensor> v_proj = Linear(8, 8);
                public Model() : base("model") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "LORA004");
        Assert.Equal("Block", SourceAt(d));
    }

    [Fact]
    public void LORA005_a_target_declared_as_Linear_points_at_the_type()
    {
        var d = Single(AttentionOpen + "[LoraTarget(r: 8, alpha: 16)] private Linear q_proj = Linear(8, 8); }", "LORA005");
        Assert.Equal("Linear", SourceAt(d));
        Assert.Contains("'q_proj' is declared as Linear", d.GetMessage());
    }

    [Fact]
    public void LORA006_a_readonly_target()
    {
        var d = Single(AttentionOpen + "[LoraTarget(r: 8, alpha: 16)] private readonly Module<Tensor, Tensor> q_proj = Linear(8, 8); }", "LORA006");
        Assert.Equal("q_proj", SourceAt(d));
        Assert.Contains("'q_proj' is readonly", d.GetMessage());
    }

    [Fact]
    public void LORA007_a_target_initialised_with_something_else()
    {
        var d = Single(AttentionOpen + """
            [LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> act;
            public Attention(int unused) : base("attn") { act = ReLU(); }
            }
            """, "LORA007");
        Assert.Equal("act", SourceAt(d));
        Assert.Contains("'act' is initialised with ReLU, not a Linear", d.GetMessage());
    }

    [Fact]
    public void LORA007_is_silent_where_the_source_does_not_show_the_layer()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + AttentionOpen + """
            [LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj;
            public Attention(Module<Tensor, Tensor> given) : base("attn") { q_proj = given; }
            }
            """);
        Assert.Empty(GeneratorHarness.Analyze(compilation));
    }

    [Fact]
    public void LORA008_a_module_name_that_matches_nothing_lists_the_layers()
    {
        var d = Single("""
            [LoraTarget(r: 8, alpha: 16, Modules = new[] { "q_proj", "q_prj" })]
            public partial class Attention : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                private Module<Tensor, Tensor> v_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "LORA008");
        Assert.StartsWith("LoraTarget(", SourceAt(d));
        Assert.Equal("[LoraTarget] on 'Attention': module 'q_prj' matches no layer of the model (layers: q_proj, v_proj)", d.GetMessage());
    }

    [Fact]
    public void LORA008_a_strategy_that_matches_nothing()
    {
        var d = Single("""
            [LoraTarget(r: 8, alpha: 16)]
            public partial class Gpt2Block : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> c_attn = Linear(8, 24);
                public Gpt2Block() : base("block") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "LORA008");
        Assert.Contains("strategy 'Original' matches no layer of the model (layers: c_attn)", d.GetMessage());
    }

    [Fact]
    public void LORA009_rank_above_a_constant_layer_size()
    {
        var d = Single(AttentionOpen + "[LoraTarget(r: 64, alpha: 16)] private Module<Tensor, Tensor> k_proj = Linear(128, 32); }", "LORA009");
        Assert.Equal("k_proj", SourceAt(d));
        Assert.Equal("LoRA target 'k_proj': r = 64 is greater than min(in, out) = 32 of a 128x32 layer; the update cannot have that rank", d.GetMessage());
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
    }

    [Fact]
    public void LORA010_the_same_layer_targeted_twice_with_different_settings()
    {
        var d = Single("""
            public partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 4, alpha: 8)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            [LoraTarget(r: 8, alpha: 16, Strategy = LoraStrategy.Original)]
            public partial class Model : Module<Tensor, Tensor>
            {
                private Attention self_attn = new();
                public Model() : base("model") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "LORA010");
        Assert.StartsWith("LoraTarget(r: 4", SourceAt(d));
        Assert.Contains("'self_attn.q_proj' has its own [LoraTarget] (r=4, alpha=8", d.GetMessage());
        Assert.Contains("also chosen by 'Model' with different settings (r=8, alpha=16", d.GetMessage());
    }

    [Fact]
    public void The_same_settings_twice_are_no_conflict()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + """
            public partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                private Module<Tensor, Tensor> v_proj = Linear(8, 8);
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            [LoraTarget(r: 8, alpha: 16)]
            public partial class Model : Module<Tensor, Tensor>
            {
                private Attention self_attn = new();
                public Model() : base("model") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        Assert.Empty(GeneratorHarness.Analyze(compilation));
        var (_, output, _) = GeneratorHarness.Generate(compilation);
        GeneratorHarness.AssertNoErrors(output);
    }

    [Fact]
    public void The_README_example_compiles_without_diagnostics()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + """
            public sealed partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 16, alpha: 32)] private Module<Tensor, Tensor> q_proj = Linear(64, 64);
                private Module<Tensor, Tensor> k_proj = Linear(64, 16);
                [LoraTarget(r: 8, alpha: 16)] private Module<Tensor, Tensor> v_proj = Linear(64, 16);
                private Module<Tensor, Tensor> o_proj = Linear(64, 64);
                public Attention() : base("attn") => RegisterComponents();
                public override Tensor forward(Tensor x) => x;
            }
            public sealed partial class DecoderLayer : Module<Tensor, Tensor>
            {
                private Attention self_attn = new();
                private Module<Tensor, Tensor> gate_proj = Linear(64, 128);
                private Module<Tensor, Tensor> up_proj = Linear(64, 128);
                private Module<Tensor, Tensor> down_proj = Linear(128, 64);
                public DecoderLayer() : base("layer") => RegisterComponents();
                public override Tensor forward(Tensor x) => x;
            }
            [LoraTarget(r: 16, alpha: 32, Modules = ["k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])]
            public sealed partial class TinyLlama : Module<Tensor, Tensor>
            {
                private Embedding embed_tokens = Embedding(100, 64);
                private ModuleList<DecoderLayer> layers = new(new DecoderLayer());
                private Module<Tensor, Tensor> lm_head = Linear(64, 100);
                public TinyLlama() : base("llama") => RegisterComponents();
                public override Tensor forward(Tensor x) => x;
            }
            """);
        Assert.Empty(GeneratorHarness.Analyze(compilation));
        var (sources, output, _) = GeneratorHarness.Generate(compilation);
        GeneratorHarness.AssertNoErrors(output);
        Assert.Contains(sources, s => s.SourceText.ToString().Contains("\"layers.{i}.self_attn.v_proj\", 8, 16, 2, false"));
    }

    public static TheoryData<string, string> IgnoredAttributes() => new()
    {
        { "[LoraModel] public partial record Settings;", "[LoraModel] on 'Settings' does nothing: a record is not a TorchSharp module" },
        { "[LoraTarget(r: 4, alpha: 8)] public partial class Helper { }", "[LoraTarget] on 'Helper' does nothing: it does not derive from TorchSharp's nn.Module" },
        { "[LoraModel] public static partial class Tools { }", "[LoraModel] on 'Tools' does nothing: a static class has no layers" },
        { "[LoraModel] public abstract partial class Base : Module<Tensor, Tensor> { protected Base() : base(\"b\") { } }",
          "[LoraModel] on 'Base' does nothing: an abstract class is never the model that is built; put it on the concrete model class" },
        { AttentionOpen + "[LoraTarget(r: 4, alpha: 8)] private static Module<Tensor, Tensor> shared = Linear(8, 8); }", "[LoraTarget] on 'shared' does nothing: a static field is not a layer of the module" },
        { AttentionOpen + "[LoraTarget(r: 4, alpha: 8)] private int width = 8; }", "[LoraTarget] on 'width' does nothing: int is not a layer" },
        { AttentionOpen + "[LoraTarget(r: 4, alpha: 8)] private Tensor scale = ones(1); }", "[LoraTarget] on 'scale' does nothing: TorchSharp.torch.Tensor is not a layer" },
        { AttentionOpen + "[LoraTarget(r: 4, alpha: 8)] private Embedding embed = Embedding(10, 8); }", "[LoraTarget] on 'embed' does nothing: Embedding layers cannot carry LoRA adapters; only Linear layers (declared Module<Tensor, Tensor>) can" },
        { "[LoraTarget(r: 4, alpha: 8, Modules = new string[0])] public partial class M : Module<Tensor, Tensor> { private Module<Tensor, Tensor> fc = Linear(8, 8); public M() : base(\"m\") { } public override Tensor forward(Tensor x) => x; }",
          "[LoraTarget] on 'M' does nothing: Modules names no module" },
        { "[LoraTarget(r: 4, alpha: 8, Strategy = LoraStrategy.AllLinear, Modules = new[] { \"fc\" })] public partial class M : Module<Tensor, Tensor> { private Module<Tensor, Tensor> fc = Linear(8, 8); public M() : base(\"m\") { } public override Tensor forward(Tensor x) => x; }",
          "[LoraTarget] on 'M' does nothing: Strategy is ignored when Modules is set; keep one of them" },
    };

    [Theory]
    [MemberData(nameof(IgnoredAttributes))]
    public void LORA011_an_attribute_that_does_nothing_says_why(string source, string message)
    {
        var d = Single(source, "LORA011");
        Assert.Equal(message, d.GetMessage());
        Assert.StartsWith("Lora", SourceAt(d));                                // the attribute itself
    }

    [Fact]
    public void LORA012_an_accessor_that_would_clash_is_named_and_not_generated()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + """
            public partial class Attention : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 4, alpha: 8)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                [LoraTarget(r: 4, alpha: 8)] private Module<Tensor, Tensor> qProj = Linear(8, 8);
                [LoraTarget(r: 4, alpha: 8)] private Module<Tensor, Tensor> v_proj = Linear(8, 8);
                public int VProjLora => 1;
                public Attention() : base("attn") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        var messages = GeneratorHarness.Analyze(compilation).Where(d => d.Id == "LORA012").Select(d => d.GetMessage()).Order().ToArray();
        Assert.Equal([
            "The typed accessor 'QProjLora' for LoRA target 'q_proj' would clash with the accessor of 'qProj'; rename one of them (no accessor is generated for 'q_proj')",
            "The typed accessor 'QProjLora' for LoRA target 'qProj' would clash with the accessor of 'q_proj'; rename one of them (no accessor is generated for 'qProj')",
            "The typed accessor 'VProjLora' for LoRA target 'v_proj' would clash with the member 'VProjLora' of Attention; rename one of them (no accessor is generated for 'v_proj')",
        ], messages);
        var (_, output, _) = GeneratorHarness.Generate(compilation);
        GeneratorHarness.AssertNoErrors(output);
    }

    [Fact]
    public void LORA013_a_setting_peft_stores_once_per_adapter_that_differs_is_named_on_the_field()
    {
        var d = Single(AttentionOpen + """
            [LoraTarget(r: 4, alpha: 8)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
            [LoraTarget(r: 4, alpha: 8, UseDora = true)] private Module<Tensor, Tensor> v_proj = Linear(8, 8); }
            """, "LORA013");
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.Contains("LoRA target 'v_proj' has UseDora = True while 'q_proj' has False: peft stores UseDora once per adapter", d.GetMessage());
        Assert.Contains("UseDora = true", SourceAt(d));
    }

    [Fact]
    public void LORA014_a_file_local_model_is_named_and_gets_no_code()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + """
            file sealed partial class Hidden : Module<Tensor, Tensor>
            {
                [LoraTarget(r: 4, alpha: 8)] private Module<Tensor, Tensor> fc = Linear(8, 8);
                public Hidden() : base("hidden") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        var d = Assert.Single(GeneratorHarness.Analyze(compilation), x => x.Id == "LORA014");
        Assert.Equal("'Hidden' is file-local: generated code lives in another file and cannot extend it; make the class internal or public", d.GetMessage());
        var (sources, output, _) = GeneratorHarness.Generate(compilation);
        Assert.Empty(sources);
        GeneratorHarness.AssertNoErrors(output);
    }

    public static TheoryData<string, string> UnreachedLayers() => new()
    {
        { "private Sequential blocks = Sequential((\"fc\", Linear(8, 8)));", "The layers in 'blocks' (TorchSharp.Modules.Sequential) are not reached by LoRA targets or run-time adapters: a Sequential" },
        { "private ModuleDict<Module<Tensor, Tensor>> heads = new();", "The layers in 'heads' (TorchSharp.Modules.ModuleDict<TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>>) are not reached by LoRA targets or run-time adapters: a ModuleDict" },
        { "private ModuleList<ModuleList<Block>> grid = new();", "only one level of list is followed" },
        { "private ModuleList<Module<Tensor, Tensor>> linears = new();", "a ModuleList of Module: only lists of partial module classes are followed" },
    };

    [Theory]
    [MemberData(nameof(UnreachedLayers))]
    public void LORA015_layers_held_where_LoraGen_cannot_reach_them_are_named(string field, string message)
    {
        var d = Single($$"""
            public partial class Block : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> fc = Linear(8, 8);
                public Block() : base("block") { }
                public override Tensor forward(Tensor x) => x;
            }
            [LoraModel]
            public partial class Model : Module<Tensor, Tensor>
            {
                {{field}}
                private Module<Tensor, Tensor> head = Linear(8, 2);
                public Model() : base("model") { }
                public override Tensor forward(Tensor x) => x;
            }
            """, "LORA015");
        Assert.Contains(message, d.GetMessage());
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
    }

    [Fact]
    public void LORA015_layers_of_a_base_class_are_named()
    {
        var d = Single("""
            public partial class BaseModel : Module<Tensor, Tensor>
            {
                protected Module<Tensor, Tensor> fc = Linear(8, 8);
                public BaseModel() : base("model") { }
                public override Tensor forward(Tensor x) => x;
            }
            [LoraModel]
            public partial class Derived : BaseModel { private Module<Tensor, Tensor> head = Linear(8, 2); }
            """, "LORA015");
        Assert.Equal("The layers in 'Derived' (base class BaseModel) are not reached by LoRA targets or run-time adapters: fields declared in a base class are not followed; declare the layers in the model class, or hold the base as a field", d.GetMessage());
    }

    [Fact]
    public void A_class_level_name_with_an_index_plans_that_layer_only()
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + """
            public partial class Block : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> fc = Linear(8, 8);
                public Block() : base("block") { }
                public override Tensor forward(Tensor x) => x;
            }
            [LoraTarget(r: 2, alpha: 4, Modules = new[] { "layers.0.fc", "layers.2.fc" })]
            public partial class Model : Module<Tensor, Tensor>
            {
                private ModuleList<Block> layers = new(new Block(), new Block(), new Block());
                public Model() : base("model") { }
                public override Tensor forward(Tensor x) => x;
            }
            """);
        var (sources, output, _) = GeneratorHarness.Generate(compilation);
        GeneratorHarness.AssertNoErrors(output);
        var text = GeneratorHarness.Joined(sources);
        Assert.Contains("""new("layers.0.fc", 2, 4, 2, false, 8, 8, 32)""", text);
        Assert.Contains("""new("layers.2.fc", 2, 4, 2, false, 8, 8, 32)""", text);
        Assert.DoesNotContain("layers.{i}.fc", text);
    }
}
