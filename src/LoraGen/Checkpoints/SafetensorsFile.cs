using System.Text;
using Microsoft.Win32.SafeHandles;
using System.Text.Json;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Begin">Offset of its first byte from the start of the data section.</param>
public sealed record SafetensorsEntry(string Name, string DType, ScalarType Type, long[] Shape, long Begin, long End)
{
    public long Bytes => End - Begin;
}

/// <summary>
/// A safetensors file, validated strictly when opened and read one tensor at a time with positioned reads
/// straight into the tensor's memory (no memory map: a file truncated while open is an error, not a SIGBUS;
/// tensors of any size, read in chunks of 1 GiB):
/// 8-byte little-endian header size, a UTF-8 JSON header (name → dtype, shape, data_offsets; optional
/// <c>__metadata__</c> of strings), then the data, which the tensors must cover in order with no gap,
/// no overlap and nothing left over. Every error names the file and the tensor.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>The reference implementation refuses headers above 100 MB; so do we.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Bytes per positioned read: a span's length is an int, and one read should not hold the GC for long.</summary>
    private const long ChunkBytes = 64L << 20;

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafetensorsEntry> _entries;

    private SafetensorsFile(string path, SafeFileHandle handle, long dataStart,
        List<SafetensorsEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        DataStart = dataStart;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name);
        Metadata = metadata;
    }

    public string Path { get; }

    public long DataStart { get; }

    /// <summary>In file order.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public SafetensorsEntry Entry(string name) =>
        _entries.TryGetValue(name, out var entry) ? entry : throw CheckpointException.For(Path, name, "not in this file");

    /// <summary>Opens and validates <paramref name="path"/> (a regular file; symbolic links are followed, as in a Hugging Face cache).</summary>
    public static SafetensorsFile Open(string path)
    {
        long length = InputFile.Check(path);
        if (length < 8) throw CheckpointException.For(path, $"too short for a safetensors header ({length} bytes)");
        var handle = OpenHandle(path);
        try
        {
            Span<byte> sizeBytes = stackalloc byte[8];
            ReadFully(handle, path, sizeBytes, 0);
            ulong headerSize = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(sizeBytes);
            if (headerSize > MaxHeaderBytes) throw CheckpointException.For(path, $"header size {headerSize} exceeds the {MaxHeaderBytes}-byte limit");
            if ((long)headerSize > length - 8) throw CheckpointException.For(path, $"header size {headerSize} runs past the end of the file ({length} bytes)");
            var header = new byte[headerSize];
            ReadFully(handle, path, header, 8);
            long dataStart = 8 + (long)headerSize;
            var (entries, metadata) = ParseHeader(path, header, length - dataStart);
            return new SafetensorsFile(path, handle, dataStart, entries, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads one tensor into a new CPU tensor of its own dtype and shape (FP8 tensors: fp32).</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var tensor = empty(entry.Shape, dtype: entry.Type);
        try
        {
            ReadInto(name, tensor);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        if (Fp8.For(entry.DType) is not { } table) return tensor;
        using (tensor) return Fp8.Decode(tensor, table);          // FP8 is upcast to fp32: TorchSharp has no float8
    }

    /// <summary>
    /// Copies one tensor straight from the map into <paramref name="destination"/> (a contiguous CPU tensor of the
    /// same dtype and element count, e.g. a model parameter): no intermediate tensor is allocated.
    /// </summary>
    public void ReadInto(string name, Tensor destination)
    {
        var entry = Entry(name);
        if (destination.dtype != entry.Type || destination.numel() * destination.ElementSize != entry.Bytes
            || !destination.is_contiguous() || destination.device_type != TorchSharp.DeviceType.CPU)
            throw CheckpointException.For(Path, name, $"cannot be read into a {destination.dtype} [{string.Join(", ", destination.shape)}] tensor on {destination.device}");
        if (entry.Bytes == 0) return;
        using var flat = destination.view(-1);                                       // (elements,)
        long elementSize = destination.ElementSize, perChunk = ChunkBytes / elementSize, count = flat.shape[0];
        for (long first = 0; first < count; first += perChunk)
        {
            using var part = flat.narrow(0, first, Math.Min(perChunk, count - first));
            ReadFully(_handle, Path, part.bytes, DataStart + entry.Begin + first * elementSize, name);
        }
    }

    public void Dispose() => _handle.Dispose();

    private static SafeFileHandle OpenHandle(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CheckpointException.For(path, $"cannot be opened ({e.Message})");
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; a file that ends early (truncated while open) is an error naming it.</summary>
    private static void ReadFully(SafeFileHandle handle, string path, Span<byte> buffer, long offset, string? tensor = null)
    {
        while (buffer.Length > 0)
        {
            int read;
            try
            {
                read = RandomAccess.Read(handle, buffer, offset);
            }
            catch (IOException e)
            {
                throw tensor is null ? CheckpointException.For(path, $"cannot be read ({e.Message})") : CheckpointException.For(path, tensor, $"cannot be read ({e.Message})");
            }
            if (read == 0)
                throw tensor is null ? CheckpointException.For(path, "ends early: it was truncated while open")
                    : CheckpointException.For(path, tensor, "ends early: the file was truncated while open");
            buffer = buffer[read..];
            offset += read;
        }
    }

    private static (List<SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataBytes)
    {
        string json;
        try
        {
            json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(header);
        }
        catch (DecoderFallbackException)
        {
            throw CheckpointException.For(path, "the header is not valid UTF-8");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.TrimEnd(' '), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw CheckpointException.For(path, $"the header is not valid JSON ({e.Message})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw CheckpointException.For(path, "the header must be a JSON object");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>();
            var seen = new HashSet<string>();
            foreach (var property in root.EnumerateObject())
            {
                string name = property.Name;
                if (!seen.Add(name)) throw CheckpointException.For(path, name, "appears twice in the header");
                if (name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object) throw CheckpointException.For(path, "__metadata__ must be an object of strings");
                    foreach (var item in property.Value.EnumerateObject())
                        metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String ? item.Value.GetString()!
                            : throw CheckpointException.For(path, $"__metadata__ value '{item.Name}' must be a string");
                    continue;
                }
                entries.Add(ParseEntry(path, name, property.Value));
            }
            CheckLayout(path, entries, dataBytes);
            return (entries, metadata);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement value)
    {
        if (name.Length == 0) throw CheckpointException.For(path, "a tensor has an empty name");
        if (value.ValueKind != JsonValueKind.Object) throw CheckpointException.For(path, name, "its entry must be an object");
        string dtype = value.TryGetProperty("dtype", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()!
            : throw CheckpointException.For(path, name, "missing dtype");
        if (!SafetensorsDType.TryParse(dtype, out var type, out int size))
            throw CheckpointException.For(path, name, $"unsupported dtype '{dtype}' (supported: {string.Join(", ", SafetensorsDType.Names)})");
        if (!value.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
            throw CheckpointException.For(path, name, "missing shape");
        var shape = new List<long>();
        foreach (var dim in s.EnumerateArray())
            shape.Add(dim.ValueKind == JsonValueKind.Number && dim.TryGetInt64(out long n) && n >= 0 ? n
                : throw CheckpointException.For(path, name, $"shape entry {dim.GetRawText()} is not a non-negative integer"));
        if (!value.TryGetProperty("data_offsets", out var o) || o.ValueKind != JsonValueKind.Array || o.GetArrayLength() != 2)
            throw CheckpointException.For(path, name, "data_offsets must be [begin, end]");
        long Offset(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) && v >= 0 ? v
            : throw CheckpointException.For(path, name, $"data offset {e.GetRawText()} is not a non-negative integer");
        long begin = Offset(o[0]), end = Offset(o[1]);
        if (end < begin) throw CheckpointException.For(path, name, $"data_offsets [{begin}, {end}] end before they begin");
        long elements = 1;
        try
        {
            foreach (long dim in shape) elements = checked(elements * dim);
            long expected = checked(elements * size);
            if (expected != end - begin)
                throw CheckpointException.For(path, name, $"shape [{string.Join(", ", shape)}] x {dtype} is {expected} bytes but data_offsets span {end - begin}");
        }
        catch (OverflowException)
        {
            throw CheckpointException.For(path, name, $"shape [{string.Join(", ", shape)}] is too large");
        }
        return new SafetensorsEntry(name, dtype, type, shape.ToArray(), begin, end);
    }

    /// <summary>Tensors must tile the data section exactly: in order, no gap, no overlap, nothing past the end or left over.</summary>
    private static void CheckLayout(string path, List<SafetensorsEntry> entries, long dataBytes)
    {
        long next = 0;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < next) throw CheckpointException.For(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] overlap the previous tensor (which ends at {next})");
            if (entry.Begin > next) throw CheckpointException.For(path, entry.Name, $"data_offsets [{entry.Begin}, {entry.End}] leave a gap after byte {next}");
            next = entry.End;
        }
        if (next > dataBytes) throw CheckpointException.For(path, entries.OrderBy(e => e.End).Last().Name, $"data ends at {next}, past the {dataBytes} bytes of data in the file");
        if (next < dataBytes) throw CheckpointException.For(path, $"{dataBytes - next} bytes after the last tensor belong to no tensor");
    }
}
