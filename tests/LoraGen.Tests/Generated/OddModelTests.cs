using LoraGen.Layers;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LoraGen.Tests.Generated;

// Legal but odd models: keyword field names, fields named like the generated code's own parameters, a nullable
// child module that may be null. This project builds with warnings as errors, so the generated code must compile
// clean for them.
[LoraTarget(r: 2, alpha: 4, Modules = ["base", "class", "prefix", "module"])]
public sealed partial class OddNames : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> @base = Linear(8, 8);
    private Module<Tensor, Tensor> @class = Linear(8, 8);
    private Module<Tensor, Tensor> prefix = Linear(8, 8);
    private Module<Tensor, Tensor> module = Linear(8, 8);
    private OddBlock? cross_block;

    public OddNames(bool withCross) : base(nameof(OddNames))
    {
        if (withCross) cross_block = new OddBlock();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var a = @base.forward(x);
        using var b = @class.forward(a);
        using var c = prefix.forward(b);
        using var d = module.forward(c);
        return cross_block is null ? d.alias() : cross_block.forward(d);
    }
}

public sealed partial class OddBlock : Module<Tensor, Tensor>
{
    [LoraTarget(r: 2, alpha: 4)] private Module<Tensor, Tensor> fc = Linear(8, 8);

    public OddBlock() : base(nameof(OddBlock)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.forward(x);
}

// Two module classes that may hold each other through nullable fields: the compile-time walk stops at the cycle,
// the run-time walk at the first null.
[LoraModel]
public sealed partial class CycleA : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> fc = Linear(8, 8);
    private CycleB? next;

    public CycleA(CycleB? next) : base(nameof(CycleA))
    {
        this.next = next;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = fc.forward(x);
        if (next is null) return y;
        using (y) return next.forward(y);
    }
}

public sealed partial class CycleB : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> fc = Linear(8, 8);
    private CycleA? back;

    public CycleB(CycleA? back) : base(nameof(CycleB))
    {
        this.back = back;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var y = fc.forward(x);
        if (back is null) return y;
        using (y) return back.forward(y);
    }
}

public class OddModelTests
{
    [Fact]
    public void Module_classes_that_refer_to_each_other_through_nullable_fields_adapt_down_to_the_first_null()
    {
        manual_seed(91);
        using var model = new CycleA(new CycleB(new CycleA(null)));
        var layers = model.ApplyLora(new LoraGen.Adapters.PeftLoraConfig { TargetModules = LoraGen.Adapters.ModuleSelector.Names("fc") });
        Assert.Equal(["fc", "next.fc", "next.back.fc"], layers.Select(l => l.GetName()));
        foreach (var layer in layers) Layers.LayerFactory.Randomize(layer);
        using var x = randn(2, 8);
        using var unmerged = model.forward(x);
        model.MergeAndUnload();
        using var merged = model.forward(x);
        TensorAssert.Close(unmerged, merged, 1e-5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Keyword_and_shadowing_field_names_and_a_null_child_adapt_and_merge(bool withCross)
    {
        manual_seed(90);
        using var model = new OddNames(withCross);
        var layers = model.ApplyLora();
        Assert.Equal(withCross ? ["base", "class", "prefix", "module", "cross_block.fc"] : ["base", "class", "prefix", "module"],
            layers.Select(l => l.GetName()));
        Assert.NotNull(model.BaseLora);
        foreach (var layer in layers) Layers.LayerFactory.Randomize(layer);
        model.eval();
        using var x = randn(3, 8);
        using var unmerged = model.forward(x);
        model.MergeLora();
        using var merged = model.forward(x);
        TensorAssert.Close(unmerged, merged, 1e-5);
    }
}
