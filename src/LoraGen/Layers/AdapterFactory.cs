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
        if (!config.UseDora) return new PlainLoraAdapter(name, config, a, b, dropout);

        Tensor norms;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var working = AdapterDtypes.Working(frozenBase.DType, dtype);
            var weight = frozenBase.DenseWeight(working).add(b.weight.to(working).matmul(a.weight.to(working)).mul(config.Scaling));   // (out, in) W + ΔW
            norms = AdapterDtypes.Cast(linalg.vector_norm(weight, ord: 2, dims: [1]), dtype).MoveToOuterDisposeScope();
        }
        using (norms) return new DoraAdapter(name, config, a, b, dropout, new DoraMagnitude(norms));
    }
}
