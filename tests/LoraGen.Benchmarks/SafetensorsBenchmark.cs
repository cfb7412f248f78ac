using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Benchmarks;

/// <summary>
/// Reading a 512 MB safetensors file into tensors (validated header, memory map, one copy per tensor) vs
/// reading the same bytes raw with a FileStream into one buffer. Both from the page cache, interleaved; both
/// into memory allocated once (the buffer; the model's parameters), and, for reference, into new tensors.
/// </summary>
internal static class SafetensorsBenchmark
{
    private const int Tensors = 16;
    private const long TensorBytes = 32L << 20;

    public static void Run(bool quick)
    {
        string path = Path.Combine(Path.GetTempPath(), $"loragen-bench-{Environment.ProcessId}.safetensors");
        try
        {
            var tensors = Enumerable.Range(0, Tensors).Select(i => ($"layers.{i}.weight", zeros(TensorBytes / 4))).ToList();
            SafetensorsWriter.Write(path, tensors);
            foreach (var (_, t) in tensors) t.Dispose();
            long size = new FileInfo(path).Length;
            var buffer = new byte[size];

            void Raw()
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
                int read = 0;
                while (read < buffer.Length) read += stream.Read(buffer, read, buffer.Length - read);
            }
            var destinations = Enumerable.Range(0, Tensors).Select(_ => zeros(TensorBytes / 4)).ToArray();
            void IntoParameters()
            {
                using var file = SafetensorsFile.Open(path);
                for (int i = 0; i < Tensors; i++) file.ReadInto($"layers.{i}.weight", destinations[i]);
            }
            void IntoNewTensors()
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var entry in file.Entries)
                {
                    using var tensor = file.Read(entry.Name);
                }
            }
            int rounds = quick ? 3 : 10;
            var ms = SideBySide.MedianMilliseconds(1, rounds, Raw, IntoParameters, IntoNewTensors);
            foreach (var d in destinations) d.Dispose();
            double gb = size / 1e9;
            Console.WriteLine(SideBySide.Format($"read a {size / 1048576} MB safetensors file (median of {rounds}, page cache): raw {ms[0]:F0} ms ({gb / (ms[0] / 1000):F2} GB/s)"));
            Console.WriteLine(SideBySide.Format($"  into existing tensors {ms[1]:F0} ms ({gb / (ms[1] / 1000):F2} GB/s): ratio {ms[0] / ms[1]:F2}x | into new tensors {ms[2]:F0} ms: ratio {ms[0] / ms[2]:F2}x"));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
