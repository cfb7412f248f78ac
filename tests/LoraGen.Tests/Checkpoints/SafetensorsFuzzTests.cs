using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

public sealed class SafetensorsFuzzTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-fuzz-");

    public void Dispose() => _folder.Delete(recursive: true);

    /// <summary>
    /// 10,000 corruptions of a valid file (byte flips in the size, header and data, truncation, extension).
    /// Each must be refused with a CheckpointException or read correctly: every tensor exactly the bytes its
    /// offsets point at, and never more bytes than the file holds. Anything else (a crash, another exception,
    /// an oversized allocation) fails the test.
    /// </summary>
    [Fact]
    public void Randomly_corrupted_files_are_refused_cleanly_or_read_correctly()
    {
        string valid = Path.Combine(_folder.FullName, "valid.safetensors");
        using (var a = arange(12, dtype: float32).reshape(3, 4))
        using (var b = arange(6, dtype: int16))
        using (var c = ones(5, dtype: ScalarType.Bool))
            SafetensorsWriter.Write(valid, [("a", a), ("b", b), ("c", c)], new Dictionary<string, string> { ["format"] = "pt" });
        var original = File.ReadAllBytes(valid);
        var random = new Random(81);
        string path = Path.Combine(_folder.FullName, "fuzz.safetensors");
        int refused = 0, read = 0;

        for (int i = 0; i < 10_000; i++)
        {
            var bytes = Corrupt(original, random);
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = SafetensorsFile.Open(path);
                long total = 0;
                foreach (var entry in file.Entries)
                {
                    using var tensor = file.Read(entry.Name);
                    var expected = bytes.AsSpan((int)(file.DataStart + entry.Begin), (int)entry.Bytes).ToArray();
                    Assert.Equal(expected, tensor.bytes.ToArray());
                    total += entry.Bytes;
                }
                Assert.True(total <= bytes.Length, $"case {i}: {total} tensor bytes from a {bytes.Length}-byte file");
                read++;
            }
            catch (CheckpointException)
            {
                refused++;
            }
        }
        Assert.True(refused > 1000 && read > 100, $"refused {refused}, read {read}: the corruptions should exercise both outcomes");
    }

    private static byte[] Corrupt(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(5))
        {
            case 0:                                                   // the size field
                bytes[random.Next(8)] ^= (byte)(1 << random.Next(8));
                break;
            case 1:                                                   // header bytes
            {
                long headerEnd = 8 + BitConverter.ToInt64(original, 0);
                for (int k = random.Next(1, 4); k > 0; k--) bytes[random.Next(8, (int)headerEnd)] = (byte)random.Next(256);
                break;
            }
            case 2:                                                   // anywhere
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                break;
            case 3:                                                   // truncated
                Array.Resize(ref bytes, random.Next(bytes.Length));
                break;
            default:                                                  // extended
                Array.Resize(ref bytes, bytes.Length + random.Next(1, 16));
                break;
        }
        return bytes;
    }
}
