using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Layers;

/// <summary>
/// DoRA (Liu et al. 2024): the adapted weight is m ⊙ (W + ΔW) / ‖W + ΔW‖ per output row, with m trained. The
/// norm is a constant for autograd (DoRA §4.3), as in peft, so it costs no backward memory.
/// </summary>
internal sealed class DoraAdapter : LoraAdapter
{
    private readonly DoraMagnitude _magnitude;
    private Tensor? _mergeFactor;          // (out,) m / ‖W + ΔW‖ from the merge, for its exact unmerge

    internal DoraAdapter(string name, LoraConfig config, Linear a, Linear b, nn.Module<Tensor, Tensor> dropout, DoraMagnitude magnitude)
        : base(name, config, a, b, dropout) => _magnitude = magnitude;

    public override DoraMagnitude Magnitude => _magnitude;

    internal override IEnumerable<Parameter> Parameters() => base.Parameters().Append(_magnitude.weight);

    /// <summary>
    /// Adds (c − 1)·W·x + c·scaling·B·A·x with c = m / ‖W + ΔW‖ per row, so that the output becomes
    /// c ⊙ (W + ΔW)·x + b. With dropout active in training the base term uses the dropped input, as peft does.
    /// </summary>
    internal override void AddTo(AdapterForward pass)
    {
        var dropped = DroppedInput(pass);
        try
        {
            var accDtype = pass.Accumulator.dtype;
            using var scale = NormScale(pass.Base);                            // (out,) c, grad to m only
            using var down = A.forward(dropped);                               // (..., r)
            using var up = B.forward(down);                                    // (..., out)
            using var lora = up.mul(scale).mul_(Scaling);
            using var loraCast = AdapterDtypes.Cast(lora, accDtype);
            using var scaleMinusOne = scale.sub(1);
            using var baseFactor = AdapterDtypes.Cast(scaleMinusOne, accDtype);     // (out,) c − 1
            if (pass.Training && Config.Dropout > 0)
            {
                using var droppedBase = pass.Base.ForwardWithoutBias(dropped); // (..., out)
                using var cast = AdapterDtypes.Cast(droppedBase, accDtype);
                using var term = cast.mul(baseFactor);
                pass.Accumulator.add_(term).add_(loraCast);
            }
            else
            {
                using var term = pass.BaseOutputWithoutBias.mul(baseFactor);
                pass.Accumulator.add_(term).add_(loraCast);
            }
        }
        finally
        {
            ReleaseInput(pass, dropped);
        }
    }

    /// <summary>(out,) m / ‖W + ΔW‖ in the adapter's dtype, the norm detached.</summary>
    private Tensor NormScale(FrozenBase frozenBase)
    {
        using var norm = WeightNorms(frozenBase, this, DType);
        return _magnitude.weight.div(norm);
    }

    /// <summary>(out,) ‖W + scaling·B·A‖ per row, computed in fp32 (fp64) without gradient and returned in <paramref name="dtype"/>.</summary>
    internal static Tensor WeightNorms(FrozenBase frozenBase, LoraAdapter adapter, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var working = AdapterDtypes.Working(frozenBase.DType, adapter.DType);
        var combined = frozenBase.DenseWeight(working).add(adapter.DeltaWeight(working));   // (out, in)
        return AdapterDtypes.Cast(RowNorms(combined), dtype).MoveToOuterDisposeScope();
    }

    internal override void MergeInto(Tensor weight)
    {
        using var scope = NewDisposeScope();
        weight.add_(DeltaWeight(weight.dtype));                               // W + ΔW
        var factor = AdapterDtypes.Cast(_magnitude.weight, weight.dtype).div(RowNorms(weight));   // (out,)
        weight.mul_(factor.unsqueeze(1));
        ForgetMerge();
        factor.DetachFromDisposeScope();                                      // this adapter owns it until unmerge
        _mergeFactor = factor;
    }

    internal override void UnmergeFrom(Tensor weight)
    {
        var factor = _mergeFactor ?? throw new InvalidOperationException($"DoRA adapter '{Name}' is not merged.");
        using var scope = NewDisposeScope();
        weight.div_(AdapterDtypes.Cast(factor, weight.dtype).unsqueeze(1)).sub_(DeltaWeight(weight.dtype));   // W = W'/factor − ΔW
        ForgetMerge();
    }

    internal override void ForgetMerge()
    {
        _mergeFactor?.Dispose();
        _mergeFactor = null;
    }
}
