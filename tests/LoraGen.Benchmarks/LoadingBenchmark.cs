using System.Diagnostics;
using LoraGen.Checkpoints;
using LoraGen.Devices;
using LoraGen.Models.Loading;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// HfModels.Load of a ~1.1B-parameter bf16 checkpoint with TinyLlama's shapes (written once, kept in the temp folder)
/// against reading the same bytes raw into one fresh tensor: both from the page cache, both paying for
/// fresh pages, interleaved. Then peak resident memory of a process that only loads it, against the checkpoint's size.
/// </summary>
internal static class LoadingBenchmark
{
    private const string Config = """
        {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
         "num_key_value_heads": 4, "vocab_size": 32000, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false}
        """;

    public static void Run(bool quick)
    {
        string folder = Checkpoint();
        string file = Path.Combine(folder, ShardedCheckpoint.SingleFile);
        long bytes = new FileInfo(file).Length;

        void Raw()
        {
            using var buffer = empty(bytes, ScalarType.Byte);                      // fresh pages from the allocator the model's tensors use
            using var handle = File.OpenHandle(file);
            for (long offset = 0; offset < bytes;)
            {
                using var part = buffer.narrow(0, offset, Math.Min(1L << 30, bytes - offset));
                offset += RandomAccess.Read(handle, part.bytes, offset);
            }
        }
        void Load()
        {
            using var model = HfModels.Load(folder, ScalarType.BFloat16);
        }
        int rounds = quick ? 1 : 3;
        var ms = SideBySide.MedianMilliseconds(1, rounds, Raw, Load);
        Console.WriteLine(SideBySide.Format($"load a {bytes / 1e9:F2} GB bf16 checkpoint (TinyLlama's shapes, 1.1B parameters; median of {rounds}, page cache):"));
        Console.WriteLine(SideBySide.Format($"  raw read into one fresh tensor {ms[0]:F0} ms | HfModels.Load {ms[1]:F0} ms | speed load/raw {ms[0] / ms[1]:F2}x (goal >= 0.8)"));

        var child = ChildProcess.Run("load-child", folder);
        long before = ChildProcess.Long(child, "VmRSS_before_KB") * 1024, peak = ChildProcess.Long(child, "VmHWM_KB") * 1024;
        Console.WriteLine(SideBySide.Format($"  peak RSS of a process loading it {peak / 1e9:F2} GB (of which {before / 1e9:F2} GB before the load: runtime and libtorch) | peak/checkpoint {(double)peak / bytes:F3} (goal <= 1.15) | added by the load/checkpoint {(double)(peak - before) / bytes:F3}"));
    }

    /// <summary>The child: loads the checkpoint in bf16 and reports its resident memory before and its peak after.</summary>
    public static int RunChild(string folder)
    {
        using (var warm = ones(1)) { }                                                    // libtorch loaded before the baseline
        Console.WriteLine("VmRSS_before_KB=" + HostMemory.StatusBytes("VmRSS") / 1024);
        using var model = HfModels.Load(folder, ScalarType.BFloat16);
        Console.WriteLine("VmHWM_KB=" + HostMemory.StatusBytes("VmHWM") / 1024);
        return 0;
    }

    /// <summary>Writes the checkpoint once, one tensor at a time per layer (not the whole model in memory).</summary>
    private static string Checkpoint()
    {
        string folder = Path.Combine(Path.GetTempPath(), "loragen-bench-tinyllama-bf16");
        string marker = Path.Combine(folder, "complete");
        if (File.Exists(marker)) return folder;
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), Config);
        var clock = Stopwatch.StartNew();
        var config = Planning.ModelConfigReader.FromFile(folder);
        using (var meta = HfModels.Create(config, new Device(TorchSharp.DeviceType.META)))
        {
            // Small constant values: the bytes, not their randomness, are what loading costs.
            var tensors = meta.named_parameters().Select(p => (p.name, full(p.parameter.shape, 0.01, dtype: ScalarType.BFloat16))).ToList();
            SafetensorsWriter.Write(Path.Combine(folder, ShardedCheckpoint.SingleFile), tensors);
            foreach (var (_, t) in tensors) t.Dispose();
        }
        File.WriteAllText(marker, "");
        Console.WriteLine(SideBySide.Format($"  (wrote the benchmark checkpoint to {folder} in {clock.Elapsed.TotalSeconds:F0} s; later runs reuse it)"));
        return folder;
    }
}
