using LoraGen.Layers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// One AdamW training step of a stack of Linear+GELU blocks, fully fine-tuned vs LoRA on every Linear
/// with the base frozen. LoRA skips the weight gradients of the frozen layers (about a third of the
/// step's FLOPs each for forward, input-gradient and weight-gradient matmuls) and keeps gradients and
/// Adam moments only for the adapters.
/// </summary>
internal static class TrainStepBenchmark
{
    private const int Width = 1024, Depth = 6, Rows = 512, Rank = 16;

    private sealed class Stack : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<nn.Module<Tensor, Tensor>> _layers = new();

        public Stack(bool lora) : base(nameof(Stack))
        {
            for (int i = 0; i < Depth; i++)
            {
                var linear = nn.Linear(Width, Width);
                _layers.Add(lora ? new LoraLinear(linear, new LoraConfig(Rank, 2 * Rank), $"layers.{i}") : linear);
            }
            register_module("layers", _layers);
        }

        public override Tensor forward(Tensor x)
        {
            var h = x;
            foreach (var layer in _layers)
            {
                using var linear = layer.forward(h);
                if (!ReferenceEquals(h, x)) h.Dispose();
                h = nn.functional.gelu(linear);
            }
            return h;
        }
    }

    public static void Run(bool quick)
    {
        manual_seed(0);
        using var full = new Stack(lora: false);
        using var lora = new Stack(lora: true);
        using var x = randn(Rows, Width);
        using var target = randn(Rows, Width);
        using var fullOptimizer = optim.AdamW(full.parameters().Where(p => p.requires_grad), lr: 1e-4);
        using var loraOptimizer = optim.AdamW(lora.parameters().Where(p => p.requires_grad), lr: 1e-4);

        void Step(nn.Module<Tensor, Tensor> model, AdamW optimizer)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), target);
            loss.backward();
            optimizer.step();
        }

        int rounds = quick ? 3 : 15;
        var ms = SideBySide.MedianMilliseconds(2, rounds, () => Step(full, fullOptimizer), () => Step(lora, loraOptimizer));
        long fullBytes = GradientAndOptimizerBytes(full, fullOptimizer);
        long loraBytes = GradientAndOptimizerBytes(lora, loraOptimizer);

        Console.WriteLine(SideBySide.Format($"train step: {Depth} x Linear({Width},{Width})+GELU, {Rows} rows, AdamW, LoRA r={Rank} (median of {rounds}):"));
        Console.WriteLine(SideBySide.Format($"  full {ms[0]:F1} ms | LoRA {ms[1]:F1} ms | time ratio LoRA/full {ms[1] / ms[0]:F3}x (theory about 0.67x)"));
        Console.WriteLine(SideBySide.Format($"  gradient + Adam state bytes: full {fullBytes:N0} | LoRA {loraBytes:N0} | ratio {(double)loraBytes / fullBytes:F4}"));
    }

    /// <summary>Bytes actually allocated for gradients and AdamW moments, read from the tensors themselves.</summary>
    private static long GradientAndOptimizerBytes(nn.Module model, AdamW optimizer)
    {
        static long Bytes(Tensor? t) => t is null ? 0 : t.NumberOfElements * t.ElementSize;
        long grads = model.parameters().Sum(p => Bytes(p.grad));
        long moments = optimizer.state_dict().State.OfType<AdamW.State>().Sum(s => Bytes(s.exp_avg) + Bytes(s.exp_avg_sq) + Bytes(s.max_exp_avg_sq));
        return grads + moments;
    }
}
