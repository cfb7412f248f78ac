using System.Diagnostics;
using System.Globalization;
using LoraGen.Layers;
using LoraGen.Quantization;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// QLoRA: weight bytes against bf16, dequantization speed against copying the dense result, and the peak
/// memory of LoRA vs QLoRA training of a 100M-parameter model, each run in a process of its own.
/// </summary>
internal static class QLoraBenchmark
{
    private const int Width = 2048, Depth = 24, Rank = 16, Rows = 64, Steps = 3;

    public static void Run(bool quick)
    {
        WeightBytes();
        DequantizeSpeed(quick);
        PeakMemory();
    }

    private static void WeightBytes()
    {
        using var weight = randn(4096, 4096);
        using var quantized = QuantizedWeight.Quantize(weight);
        long bf16 = weight.numel() * 2;
        Console.WriteLine(SideBySide.Format($"QLoRA weight bytes, 4096x4096 NF4 with double quantization: {quantized.StorageBytes:N0} vs bf16 {bf16:N0}: ratio {(double)quantized.StorageBytes / bf16:F4} (target <= 0.27); {8.0 * quantized.StorageBytes / weight.numel():F4} bits per weight"));
    }

    private static void DequantizeSpeed(bool quick)
    {
        manual_seed(0);
        using var weight = randn(4096, 4096);                 // 16M weights
        using var quantized = QuantizedWeight.Quantize(weight);
        using var dense = quantized.Dequantize();
        void Copy() { using var copy = dense.clone(); }      // allocate + write 64 MB: the bandwidth limit
        void Kernel() { using var result = quantized.Dequantize(); }
        void TensorOps() { using var result = quantized.DequantizeWithTensorOps(); }
        int rounds = quick ? 5 : 20;
        var ms = SideBySide.MedianMilliseconds(2, rounds, Copy, Kernel, TensorOps);
        Console.WriteLine(SideBySide.Format($"dequantize 16M NF4 weights to fp32 (median of {rounds}): copy {ms[0]:F1} ms | kernel {ms[1]:F1} ms | tensor ops {ms[2]:F1} ms"));
        Console.WriteLine(SideBySide.Format($"  speed relative to the copy: kernel {ms[0] / ms[1]:F2}x (target >= 0.5) | tensor ops {ms[0] / ms[2]:F2}x"));
    }

    /// <summary>
    /// glibc raises its mmap threshold each time a large block is freed, after which freed layer-sized
    /// buffers stay in the heap instead of going back to the OS: peak RSS then measures fragmentation as
    /// much as the model. So each method runs twice, in a fresh process each time: with glibc's defaults
    /// (LoraGen never changes them by itself), and after the one call a training program makes,
    /// <see cref="Devices.HostMemory.FixMmapThreshold"/> (128 KB).
    /// </summary>
    private static void PeakMemory()
    {
        Console.WriteLine(SideBySide.Format($"peak memory (VmHWM) training {Depth} x Linear({Width},{Width}) = {Depth * (Width * (long)Width + Width) / 1e6:F1}M parameters, r={Rank}, {Rows} rows, {Steps} AdamW steps, one process each:"));
        foreach (var fixedThreshold in new[] { false, true })
        {
            long lora = Child("lora", fixedThreshold), qlora = Child("qlora", fixedThreshold);
            string allocator = fixedThreshold ? "after HostMemory.FixMmapThreshold() (128 KB)" : "glibc's defaults";
            Console.WriteLine(SideBySide.Format($"  {allocator}: LoRA (fp32 base) {lora / 1024.0:F0} MB | QLoRA (NF4 base) {qlora / 1024.0:F0} MB | QLoRA/LoRA {(double)qlora / lora:F3}"));
        }
    }

    /// <summary>Runs this program again as `memory-child METHOD` and reads the VmHWM it reports.</summary>
    private static long Child(string method, bool fixedMmapThreshold) =>
        ChildProcess.Long(fixedMmapThreshold ? ChildProcess.Run("memory-child", method, "fixed-mmap-threshold") : ChildProcess.Run("memory-child", method), "VmHWM_KB");

    /// <summary>The child: builds the model one layer at a time (QLoRA quantizes each at once), trains, reports VmHWM.</summary>
    public static int RunChild(string method, bool fixedMmapThreshold)
    {
        if (fixedMmapThreshold && !Devices.HostMemory.FixMmapThreshold(Devices.HostMemory.LayerBufferThreshold))
            Console.Error.WriteLine("note: could not fix the mmap threshold here (not glibc)");
        bool quantize = method == "qlora";
        manual_seed(0);
        var layers = new List<LoraLinear>();
        for (int i = 0; i < Depth; i++)
        {
            var dense = nn.Linear(Width, Width);
            nn.Module<Tensor, Tensor> baseLayer = dense;
            if (quantize)
            {
                baseLayer = FourBitLinear.FromLinear(dense, name: $"layers.{i}");
                dense.Dispose();                               // only one dense layer exists at a time
            }
            layers.Add(new LoraLinear(baseLayer, new LoraConfig(Rank, 2 * Rank), $"layers.{i}"));
        }
        using var optimizer = optim.AdamW(layers.SelectMany(l => l.parameters()).Where(p => p.requires_grad), lr: 1e-4);
        using var x = randn(Rows, Width);
        using var target = randn(Rows, Width);
        for (int step = 0; step < Steps; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var h = x;
            foreach (var layer in layers) h = nn.functional.gelu(layer.forward(h));
            nn.functional.mse_loss(h, target).backward();
            optimizer.step();
        }
        Console.WriteLine("VmHWM_KB=" + Devices.HostMemory.StatusBytes("VmHWM") / 1024);
        return 0;
    }
}
