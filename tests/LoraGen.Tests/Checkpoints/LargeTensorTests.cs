using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

/// <summary>Tensors past 2 GiB (a 128k-vocabulary embedding in fp32): read in chunks, from a sparse file that costs no disk.</summary>
public sealed class LargeTensorTests() : TemporaryFolder("loragen-large-")
{
        [Fact]
    public void A_tensor_larger_than_2_GiB_is_read_whole()
    {
        long count = (1L << 31) + 64;                                           // bytes of one U8 tensor
        string path = Path.Combine(Folder.FullName, "large.safetensors");
        var header = System.Text.Encoding.UTF8.GetBytes("{\"w\": {\"dtype\": \"U8\", \"shape\": [" + count + "], \"data_offsets\": [0, " + count + "]}}");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            stream.Write(header);
            stream.Seek(8 + header.Length + count - 1, SeekOrigin.Begin);
            stream.WriteByte(7);                                               // the last byte; the rest is a hole
        }
        using var file = SafetensorsFile.Open(path);
        using var w = file.Read("w");
        Assert.Equal(count, w.numel());
        Assert.Equal(7, w[count - 1].item<byte>());
        Assert.Equal(0, w[(1L << 31) - 1].item<byte>());
    }
}
