using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>Plain LoRA: adds scaling·B·A·dropout(x) to the output; merging adds scaling·B·A to W.</summary>
internal sealed class PlainLoraAdapter(string name, LoraConfig config, Linear a, Linear b, nn.Module<Tensor, Tensor> dropout)
    : LoraAdapter(name, config, a, b, dropout)
{
    internal override void AddTo(AdapterForward pass)
    {
        var dropped = DroppedInput(pass);
        try
        {
            using var down = A.forward(dropped);                               // (..., r)
            // Scaling the (tokens, r) side is cheap and keeps the factor in the adapter's own precision. In
            // place is safe for autograd: Linear saves its input, never its output.
            using var down2d = down.view(-1, Config.R).mul_(Scaling);          // (tokens, r)
            if (DType == pass.Accumulator.dtype)
            {
                // accumulator += down·Bᵀ in one fused GEMM, with no (tokens, out) temporary.
                using var bT = B.weight.t();
                pass.Accumulator2d.addmm_(down2d, bT);
            }
            else
            {
                using var up = B.forward(down2d);                              // (tokens, out)
                using var cast = up.to(pass.Accumulator.dtype);
                pass.Accumulator2d.add_(cast);
            }
        }
        finally
        {
            ReleaseInput(pass, dropped);
        }
    }

    internal override void MergeInto(Tensor weight)
    {
        using var delta = DeltaWeight(weight.dtype);
        weight.add_(delta);
    }

    internal override void UnmergeFrom(Tensor weight)
    {
        using var delta = DeltaWeight(weight.dtype);
        weight.sub_(delta);
    }
}
