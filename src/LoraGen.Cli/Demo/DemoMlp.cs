using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>
/// The demo's model: three Linear layers with GELU between them, in → hidden → hidden → out. The
/// attribute is all it takes: the generator writes ApplyLora, MergeLora, the typed accessors and the plan.
/// </summary>
[LoraTarget(r: 8, alpha: 16, Strategy = LoraStrategy.AllLinear)]
internal sealed partial class DemoMlp : nn.Module<Tensor, Tensor>
{
    private nn.Module<Tensor, Tensor> fc1;
    private nn.Module<Tensor, Tensor> fc2;
    private nn.Module<Tensor, Tensor> fc3;

    public DemoMlp(long inFeatures, long hidden, long outFeatures) : base(nameof(DemoMlp))
    {
        fc1 = nn.Linear(inFeatures, hidden);
        fc2 = nn.Linear(hidden, hidden);
        fc3 = nn.Linear(hidden, outFeatures);
        RegisterComponents();
    }

    /// <param name="x">(batch, in)</param>
    /// <returns>(batch, out)</returns>
    public override Tensor forward(Tensor x)
    {
        using var h1 = fc1.forward(x);
        using var a1 = nn.functional.gelu(h1);
        using var h2 = fc2.forward(a1);
        using var a2 = nn.functional.gelu(h2);
        return fc3.forward(a2);
    }
}
