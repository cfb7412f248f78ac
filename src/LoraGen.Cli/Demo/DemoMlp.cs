using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>The demo's model: three Linear layers with GELU between them, in → hidden → hidden → out.</summary>
internal sealed class DemoMlp : nn.Module<Tensor, Tensor>
{
    private static readonly string[] LayerNames = ["fc1", "fc2", "fc3"];

    public DemoMlp(long inFeatures, long hidden, long outFeatures) : base(nameof(DemoMlp))
    {
        register_module("fc1", nn.Linear(inFeatures, hidden));
        register_module("fc2", nn.Linear(hidden, hidden));
        register_module("fc3", nn.Linear(hidden, outFeatures));
    }

    private nn.Module<Tensor, Tensor> Layer(string name) => (nn.Module<Tensor, Tensor>)_internal_submodules[name];

    /// <summary>Replaces every Linear by a <see cref="LoraLinear"/> wrapping it, under the same name.</summary>
    public IReadOnlyList<LoraLinear> InjectAdapters(LoraConfig config)
    {
        var adapted = new List<LoraLinear>();
        foreach (var name in LayerNames)
        {
            var lora = new LoraLinear(Layer(name), config, name);
            _internal_submodules[name] = lora;   // register_module refuses a taken name; the entry is ours to replace
            adapted.Add(lora);
        }
        return adapted;
    }

    /// <param name="x">(batch, in)</param>
    /// <returns>(batch, out)</returns>
    public override Tensor forward(Tensor x)
    {
        using var h1 = Layer("fc1").forward(x);
        using var a1 = nn.functional.gelu(h1);
        using var h2 = Layer("fc2").forward(a1);
        using var a2 = nn.functional.gelu(h2);
        return Layer("fc3").forward(a2);
    }
}
