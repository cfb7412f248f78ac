using Microsoft.CodeAnalysis;

namespace LoraGen.Generators.Tests;

/// <summary>
/// The parser reads field types, base classes and attribute lists from their spelling where that settles them, and
/// binds otherwise. Each model here is spelled so that a shortcut taken wrongly would change what is generated: an
/// alias for the layer type or the attribute, a source class named Linear, a module base class of the user's own.
/// </summary>
public class SpellingShortcutTests
{
    public static TheoryData<string, string, string[]> Models => new()
    {
        {
            "layer type through an alias",
            """
            using Layer = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>;
            namespace Demo;
            [LoraTarget(r: 4, alpha: 8)]
            public partial class Attention : Module<Tensor, Tensor>
            {
                private Layer q_proj = Linear(8, 8);
                private Layer v_proj = Linear(8, 8);
                public Attention() : base("attn") => RegisterComponents();
                public override Tensor forward(Tensor x) => v_proj.forward(q_proj.forward(x));
            }
            """,
            ["prefix + \"q_proj\"", "prefix + \"v_proj\"", "new(\"q_proj\", 4, 8, 2, false, 8, 8, 64)"]
        },
        {
            "attribute through an alias",
            """
            using Target = LoraGen.LoraTargetAttribute;
            namespace Demo;
            public partial class Attention : Module<Tensor, Tensor>
            {
                [Target(4, 8)] private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                public Attention() : base("attn") => RegisterComponents();
                public override Tensor forward(Tensor x) => q_proj.forward(x);
            }
            """,
            ["prefix + \"q_proj\", new global::LoraGen.Layers.LoraConfig(4, 8)"]
        },
        {
            "a source class named Linear is a module class, not TorchSharp's Linear",
            """
            namespace Demo;
            public partial class Linear : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> fc = TorchSharp.torch.nn.Linear(8, 8);
                public Linear() : base("inner") => RegisterComponents();
                public override Tensor forward(Tensor x) => fc.forward(x);
            }
            [LoraTarget(r: 2, alpha: 4, Modules = ["fc"])]
            public partial class Model : Module<Tensor, Tensor>
            {
                private Linear inner = new Linear();
                public Model() : base("model") => RegisterComponents();
                public override Tensor forward(Tensor x) => inner.forward(x);
            }
            """,
            ["prefix + \"inner.\"", "new(\"inner.fc\", 2, 4, 2, false, 8, 8, 32)"]
        },
        {
            "a using alias named Linear means the aliased module class",
            """
            using Linear = Demo.Dense;
            namespace Demo;
            public partial class Dense : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> fc = TorchSharp.torch.nn.Linear(8, 8);
                public Dense() : base("dense") => RegisterComponents();
                public override Tensor forward(Tensor x) => fc.forward(x);
            }
            [LoraTarget(r: 2, alpha: 4, Modules = ["fc"])]
            public partial class Model : Module<Tensor, Tensor>
            {
                private Linear inner = new Linear();
                public Model() : base("model") => RegisterComponents();
                public override Tensor forward(Tensor x) => inner.forward(x);
            }
            """,
            ["prefix + \"inner.\"", "new(\"inner.fc\", 2, 4, 2, false, 8, 8, 32)"]
        },
        {
            "a module class deriving from the user's own module base",
            """
            namespace Demo;
            public abstract class Base : Module<Tensor, Tensor>
            {
                protected Base(string name) : base(name) { }
            }
            [LoraTarget(r: 2, alpha: 4)]
            public partial class Model : Base
            {
                private Module<Tensor, Tensor> q_proj = Linear(8, 8);
                private Module<Tensor, Tensor> v_proj = Linear(8, 8);
                public Model() : base("model") => RegisterComponents();
                public override Tensor forward(Tensor x) => v_proj.forward(q_proj.forward(x));
            }
            """,
            ["prefix + \"q_proj\"", "prefix + \"v_proj\""]
        },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Shortcuts_find_what_binding_finds(string scenario, string source, string[] expected)
    {
        var input = GeneratorHarness.Compile(Sources.Usings + source);
        GeneratorHarness.AssertNoErrors(input);
        var diagnostics = GeneratorHarness.Analyze(input);
        Assert.True(diagnostics.All(d => d.Severity < DiagnosticSeverity.Warning), $"{scenario}: {string.Join("; ", diagnostics)}");

        var (sources, output, _) = GeneratorHarness.Generate(input);
        GeneratorHarness.AssertNoErrors(output);
        string generated = GeneratorHarness.Joined(sources);
        foreach (var text in expected) Assert.True(generated.Contains(text, StringComparison.Ordinal), $"{scenario}: expected '{text}' in\n{generated}");
    }
}
