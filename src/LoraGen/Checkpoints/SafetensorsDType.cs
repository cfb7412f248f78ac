using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>The safetensors dtype names and the TorchSharp types they map to.</summary>
public static class SafetensorsDType
{
    private static readonly (string Name, ScalarType Type, int Size)[] Table =
    [
        ("F64", ScalarType.Float64, 8), ("F32", ScalarType.Float32, 4), ("F16", ScalarType.Float16, 2), ("BF16", ScalarType.BFloat16, 2),
        ("I64", ScalarType.Int64, 8), ("I32", ScalarType.Int32, 4), ("I16", ScalarType.Int16, 2), ("I8", ScalarType.Int8, 1),
        ("U8", ScalarType.Byte, 1), ("BOOL", ScalarType.Bool, 1),
        // No float8 in TorchSharp: stored as bytes, upcast to fp32 by SafetensorsFile.Read (see Fp8).
        ("F8_E4M3", ScalarType.Byte, 1), ("F8_E5M2", ScalarType.Byte, 1),
    ];

    public static bool TryParse(string name, out ScalarType type, out int size)
    {
        foreach (var entry in Table)
            if (entry.Name == name)
            {
                (type, size) = (entry.Type, entry.Size);
                return true;
            }
        (type, size) = (default, 0);
        return false;
    }

    /// <summary>The safetensors name of <paramref name="type"/>, or null where the format has none (complex types).</summary>
    public static string? NameOf(ScalarType type) => Table.FirstOrDefault(e => e.Type == type).Name;

    public static IEnumerable<string> Names => Table.Select(e => e.Name);
}
