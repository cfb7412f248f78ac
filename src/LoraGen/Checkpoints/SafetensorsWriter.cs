using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>Writes safetensors files atomically (<see cref="AtomicFile"/>).</summary>
public static class SafetensorsWriter
{
    /// <param name="tensors">Written in this order; names must be unique and non-empty. Any layout (views are fine).</param>
    /// <param name="metadata">Optional <c>__metadata__</c> strings (peft writes <c>format: pt</c>).</param>
    /// <param name="dtype">Writes every tensor converted to this dtype, one tensor at a time (no model-sized copy); null keeps each tensor's own.</param>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null,
        ScalarType? dtype = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>();
        foreach (var (name, tensor) in list)
        {
            if (string.IsNullOrEmpty(name) || name == "__metadata__") throw CheckpointException.For(path, name, "is not a valid tensor name");
            if (!names.Add(name)) throw CheckpointException.For(path, name, "given twice");
            if (SafetensorsDType.NameOf(dtype ?? tensor.dtype) is null) throw CheckpointException.For(path, name, $"has dtype {dtype ?? tensor.dtype}, which safetensors cannot store");
        }

        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, tensor) in list)
        {
            var stored = dtype ?? tensor.dtype;
            SafetensorsDType.TryParse(SafetensorsDType.NameOf(stored)!, out _, out int elementSize);
            long bytes = tensor.NumberOfElements * elementSize;
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = SafetensorsDType.NameOf(stored)!,
                ["shape"] = tensor.shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padding = (8 - json.Length % 8) % 8;                            // the data starts 8-byte aligned

        AtomicFile.Write(path, stream =>
        {
            Span<byte> size = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(size, (ulong)(json.Length + padding));
            stream.Write(size);
            stream.Write(json);
            for (int i = 0; i < padding; i++) stream.WriteByte((byte)' ');
            foreach (var (_, tensor) in list)
            {
                using var perTensor = NewDisposeScope();                        // the CPU copy of one tensor at a time
                var cpu = tensor.detach().to(dtype ?? tensor.dtype).cpu().contiguous();
                using var flat = cpu.view(-1);                                   // written 1 GiB at a time: any size
                long perChunk = (1L << 30) / Math.Max(1, cpu.ElementSize), count = flat.shape[0];
                for (long first = 0; first < count; first += perChunk)
                {
                    using var part = flat.narrow(0, first, Math.Min(perChunk, count - first));
                    stream.Write(part.bytes);
                }
            }
        });
    }
}
