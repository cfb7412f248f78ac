using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>Creates an adapter's modules as peft initialises them: Kaiming-uniform (or Gaussian) A, zero B, DoRA's m = ‖W + ΔW‖ per row.</summary>
internal static class AdapterFactory
{
    public static LoraAdapter Create(string name, LoraConfig config, FrozenBase frozenBase)
    {
        var dtype = AdapterDtypes.ForAdapter(frozenBase.DType, config.AutocastAdapterDtype);
        var device = frozenBase.Module.parameters().First().device;
        var a = nn.Linear(frozenBase.InFeatures, config.R, hasBias: false, device: device, dtype: dtype);     // weight (r, in)
        var b = nn.Linear(config.R, frozenBase.OutFeatures, hasBias: false, device: device, dtype: dtype);    // weight (out, r)
        if (config.Init != LoraInit.LinearDefault)
            using (no_grad())
            {
                if (config.Init == LoraInit.Gaussian)
                    nn.init.normal_(a.weight, 0, 1.0 / config.R);
                else
                    nn.init.kaiming_uniform_(a.weight, Math.Sqrt(5));
                nn.init.zeros_(b.weight);
            }
        nn.Module<Tensor, Tensor> dropout = config.Dropout > 0 ? nn.Dropout(config.Dropout) : nn.Identity();
        var plain = new PlainLoraAdapter(name, config, a, b, dropout);
        if (!config.UseDora) return plain;
        using var norms = DoraAdapter.WeightNorms(frozenBase, plain, dtype);    // m starts at ‖W + ΔW‖ (= ‖W‖ while B = 0)
        return new DoraAdapter(name, config, a, b, dropout, new DoraMagnitude(norms));
    }
}
