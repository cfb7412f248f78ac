namespace LoraGen.Generators.Tests;

/// <summary>Half-typed code, as in an editor: the generator and the analyzer never throw (no CS8785, no AD0001).</summary>
public class RobustnessTests
{
    public static TheoryData<string> HalfTypedSources => new()
    {
        "public partial class A : Module<Tensor, Tensor> { [LoraTarget( private Module<Tensor, Tensor> q; }",
        "public partial class A : Module<Tensor, Tensor> { [LoraTarget(r: 16)] private Module<Tensor, Tensor> q = Linear(8, 8); }",
        "public partial class A : Module<Tensor, Tensor> { [LoraTarget(r: 16, alpha: 32)] private Module<Tensor, Tensor> q = Linear(; }",
        "public partial class A : Module<Tensor, Tensor> { [LoraTarget(r: 16, alpha: 32)] private Missing q; }",
        "[LoraTarget(8, 16)] public partial class A { }",
        "[LoraTarget(8, 16)] public partial class A : Module<Tensor, Tensor> { }",
        "[LoraTarget(8, 16, Modules = new[] { null, \"\" })] public partial class A : Module<Tensor, Tensor> { private Module<Tensor, Tensor> q = Linear(8, 8); }",
        "[LoraTarget(8, 16, Modules = null)] public partial class A : Module<Tensor, Tensor> { private Module<Tensor, Tensor> q_proj = Linear(8, 8); }",
        "[LoraTarget(8, 16, Strategy = (LoraStrategy)7)] public partial class A : Module<Tensor, Tensor> { private Module<Tensor, Tensor> q_proj = Linear(8, 8); }",
        "[LoraTarget(\"8\", 16)] public partial class A : Module<Tensor, Tensor> { private Module<Tensor, Tensor> q_proj = Linear(8, 8); }",
        "[LoraTarget(8, 16)] public partial class A : Module<Tensor, Tensor> { private A self; private ModuleList<A> many; private Module<Tensor, Tensor> q_proj = Linear(8, 8); }",
        "public partial class A : Module<Tensor, Tensor> { [LoraTarget(8, 16)] private Module<Tensor, Tensor> q_proj = Linear(1L << 40, \"x\"); }",
        "public partial class A<T> : Module<Tensor, Tensor> where T : struct { [LoraTarget(8, 16)] private Module<Tensor, Tensor> q_proj = Linear(8, 8); }",
        "public partial struct S { [LoraTarget(8, 16)] private Module<Tensor, Tensor> q_proj; }",
        "[LoraTarget(8, 16, Dropout = double.NaN)] public partial class A : Module<Tensor, Tensor> { private Module<Tensor, Tensor> q_proj = Linear(8, 8); }",
    };

    [Theory]
    [MemberData(nameof(HalfTypedSources))]
    public void Half_typed_code_never_makes_the_generator_or_analyzer_throw(string source)
    {
        var compilation = GeneratorHarness.Compile(Sources.Usings + source);
        var (_, _, diagnostics) = GeneratorHarness.Generate(compilation);     // asserts no generator exception
        Assert.DoesNotContain(diagnostics, d => d.Id is "CS8785" or "AD0001");
        GeneratorHarness.Analyze(compilation);                                // asserts no analyzer exception
    }
}
