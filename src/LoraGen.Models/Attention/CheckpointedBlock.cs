using static TorchSharp.torch;

namespace LoraGen.Models.Attention;

/// <summary>
/// Gradient checkpointing of one decoder block, as torch.utils.checkpoint does it (the reentrant variant): the
/// forward runs without recording a graph, so none of the block's activations are kept, only its input; the backward
/// runs the block again with the graph recorded, under the random state the forward saw (dropout masks repeat), and
/// backpropagates through it. Memory for time: one more forward per block.
/// </summary>
internal sealed class CheckpointedBlock : autograd.SingleTensorFunction<CheckpointedBlock>
{
    private const string RunKey = "run", RandomKey = "random";

    public override string Name => nameof(CheckpointedBlock);

    /// <param name="vars">[0] the block's input (batch, seq, hidden); [1] the block as a function of it.</param>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        // Only the CPU generator's state can be saved through TorchSharp; on CUDA the rerun's dropout masks would differ.
        if (x.device_type != TorchSharp.DeviceType.CPU)
            throw new NotSupportedException($"gradient checkpointing runs on the CPU only for now: the {x.device_type} generator's state cannot be saved for the rerun");
        ctx.save_for_backward([x]);
        ctx.save_data(RunKey, vars[1]);
        ctx.save_data(RandomKey, random.get_rng_state());
        using var _ = no_grad();
        return ((Func<Tensor, Tensor>)vars[1])(x);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var run = (Func<Tensor, Tensor>)ctx.get_data(RunKey);
        using var forwardRandom = (Tensor)ctx.get_data(RandomKey);
        using var current = random.get_rng_state();
        using var input = ctx.get_saved_variables()[0].detach().requires_grad_(true);
        random.set_rng_state(forwardRandom);                                 // the forward's dropout masks again
        try
        {
            using var _ = enable_grad();
            using var output = run(input);
            autograd.backward([output], [gradOutput]);                      // the block's parameters get their gradients here
        }
        finally
        {
            random.set_rng_state(current);
        }
        return [input.grad!.detach(), null!];
    }
}
