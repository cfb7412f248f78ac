using System.Text;
using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

public sealed class SafetensorsTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-st-");

    public void Dispose() => _folder.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_folder.FullName, name);

    /// <summary>8-byte little-endian header size, the header text, then the data bytes.</summary>
    internal static byte[] Craft(string header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + data.Length];
        BitConverter.GetBytes((ulong)json.Length).CopyTo(bytes, 0);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        return bytes;
    }

    [Theory]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Bool)]
    public void Every_dtype_round_trips_bitwise(ScalarType dtype)
    {
        manual_seed(80);
        using var source = (randn(3, 5) * 20).to(dtype);
        using var empty = zeros(0, 4, dtype: dtype);
        string path = PathOf("round.safetensors");
        SafetensorsWriter.Write(path, [("a.weight", source), ("empty", empty)], new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(new[] { "a.weight", "empty" }, file.Entries.Select(e => e.Name));
        Assert.Equal(0, file.DataStart % 8);
        using var read = file.Read("a.weight");
        Assert.Equal(dtype, read.dtype);
        Assert.Equal(source.shape, read.shape);
        Assert.Equal(source.bytes.ToArray(), read.bytes.ToArray());
        using var readEmpty = file.Read("empty");
        Assert.Equal(new long[] { 0, 4 }, readEmpty.shape);
    }

    public static TheoryData<string, byte[], string> BadFiles => new()
    {
        { "short", new byte[] { 1, 2, 3 }, "too short for a safetensors header (3 bytes)" },
        { "huge header", BitConverter.GetBytes((ulong)200_000_000).Concat(new byte[8]).ToArray(), "header size 200000000 exceeds the 100000000-byte limit" },
        { "header past end", BitConverter.GetBytes((ulong)64).Concat(new byte[8]).ToArray(), "header size 64 runs past the end of the file (16 bytes)" },
        { "not utf-8", Craft("{\"a\xff\": 1}", []).Select((b, i) => i == 11 ? (byte)0xFF : b).ToArray(), "the header is not valid UTF-8" },
        { "not json", Craft("{\"a\": ", []), "the header is not valid JSON" },
        { "not an object", Craft("[1, 2]", []), "the header must be a JSON object" },
        { "duplicate", Craft("""{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}""", new byte[2]), "tensor 'a': appears twice in the header" },
        { "bad dtype", Craft("""{"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}""", new byte[8]), "tensor 'a': unsupported dtype 'C64'" },
        { "no shape", Craft("""{"a": {"dtype": "U8", "data_offsets": [0, 1]}}""", new byte[1]), "tensor 'a': missing shape" },
        { "negative dim", Craft("""{"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}""", new byte[1]), "tensor 'a': shape entry -1 is not a non-negative integer" },
        { "reversed", Craft("""{"a": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}}""", new byte[4]), "tensor 'a': data_offsets [4, 2] end before they begin" },
        { "size mismatch", Craft("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}""", new byte[4]), "tensor 'a': shape [2] x F32 is 8 bytes but data_offsets span 4" },
        { "overlap", Craft("""{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}""", new byte[6]), "tensor 'b': data_offsets [2, 6] overlap the previous tensor (which ends at 4)" },
        { "gap", Craft("""{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [3, 5]}}""", new byte[5]), "tensor 'b': data_offsets [3, 5] leave a gap after byte 2" },
        { "past end", Craft("""{"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}""", new byte[4]), "tensor 'a': data ends at 8, past the 4 bytes of data in the file" },
        { "trailing", Craft("""{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}""", new byte[5]), "3 bytes after the last tensor belong to no tensor" },
        { "metadata", Craft("""{"__metadata__": {"format": 1}}""", []), "__metadata__ value 'format' must be a string" },
        { "overflow", Craft("""{"a": {"dtype": "F64", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}}""", new byte[8]), "tensor 'a': shape [4611686018427387904, 4] is too large" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Each_validation_rule_names_the_file_and_the_tensor(string label, byte[] bytes, string message)
    {
        string path = PathOf(label.Replace(' ', '-') + ".safetensors");
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.StartsWith(path + ": ", error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void A_failed_write_leaves_the_old_file_and_no_temporary()
    {
        string path = PathOf("keep.safetensors");
        using var good = ones(2);
        SafetensorsWriter.Write(path, [("w", good)]);
        var before = File.ReadAllBytes(path);
        // A tensor on the meta device has a shape and a dtype but no data: the header is written, then
        // copying its bytes fails halfway through the temporary file.
        using var dataless = empty(2, device: new Device("meta"));
        var error = Assert.Throws<System.Runtime.InteropServices.ExternalException>(() => SafetensorsWriter.Write(path, [("w", good), ("m", dataless)]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_folder.FullName));
    }

    [Fact]
    public void A_dtype_safetensors_cannot_store_is_refused_by_name()
    {
        string path = PathOf("complex.safetensors");
        using var good = ones(2);
        using var complex = zeros(2, dtype: ScalarType.ComplexFloat32);
        var error = Assert.Throws<CheckpointException>(() => SafetensorsWriter.Write(path, [("w", good), ("c", complex)]));
        Assert.Equal($"{path}: tensor 'c': has dtype ComplexFloat32, which safetensors cannot store", error.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void Pickle_checkpoints_are_refused()
    {
        File.WriteAllBytes(PathOf("pytorch_model.bin"), [0x80, 0x02]);
        var error = Assert.Throws<CheckpointException>(() => ShardedCheckpoint.Open(_folder.FullName));
        Assert.Contains("pytorch_model.bin: pickle checkpoints (.bin/.pt) can run arbitrary code", error.Message);
    }

    [Fact]
    public void A_sharded_checkpoint_reads_through_its_index_and_must_agree_with_it()
    {
        using var a = arange(4, dtype: float32);
        using var b = arange(6, dtype: float32);
        SafetensorsWriter.Write(PathOf("model-00001-of-00002.safetensors"), [("a", a)]);
        SafetensorsWriter.Write(PathOf("model-00002-of-00002.safetensors"), [("b", b)]);
        File.WriteAllText(PathOf(ShardedCheckpoint.IndexFile),
            """{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}""");
        using (var checkpoint = ShardedCheckpoint.Open(_folder.FullName))
        {
            Assert.Equal(["a", "b"], checkpoint.Names.Order());
            using var readB = checkpoint.Read("b");
            TensorAssert.BitwiseEqual(b, readB);
        }

        File.WriteAllText(PathOf(ShardedCheckpoint.IndexFile),
            """{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}}""");
        var error = Assert.Throws<CheckpointException>(() => ShardedCheckpoint.Open(_folder.FullName));
        Assert.Contains("model-00001-of-00002.safetensors: tensor 'b': listed in the index but not in the shard", error.Message);
    }
}
