using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// Writes a model with its adapters merged as a plain Hugging Face checkpoint: the LoRA wrappers disappear
/// from the names (<c>q_proj.base_layer.weight</c> is written as <c>q_proj.weight</c>) and no lora_* tensor is
/// written, so any HF loader (transformers, vLLM) reads it as the base architecture. 4-bit bases are refused:
/// merge into a dense base, as peft recommends.
/// </summary>
public static class MergedExport
{
    /// <summary>save_pretrained's default shard size: 5 GB.</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <param name="path">The checkpoint file (model.safetensors). Above <paramref name="maxShardBytes"/>, shards named as
    /// transformers names them (model-00001-of-0000N.safetensors) and model.safetensors.index.json go beside it instead.</param>
    /// <param name="storedTransposed">Exported names the target layout stores (in, out), as transformers' GPT-2 Conv1D.</param>
    public static void Write(string path, nn.Module model, ScalarType dtype = ScalarType.BFloat16, Func<string, bool>? storedTransposed = null,
        long maxShardBytes = DefaultMaxShardBytes)
    {
        if (maxShardBytes < 1) throw new ArgumentException($"maxShardBytes must be positive; got {maxShardBytes}.", nameof(maxShardBytes));
        var layers = model.modules().OfType<LoraLinear>().ToArray();
        if (layers.Any(l => l.QuantizedBase is not null))
            throw CheckpointException.For(path, $"'{layers.First(l => l.QuantizedBase is not null).GetName()}' has a 4-bit base; export merges into a dense base (load the model unquantized, then merge)");
        var unmerged = layers.Where(l => !l.IsMerged && l.ActiveAdapters.Count > 0).Select(l => l.GetName()).ToArray();
        if (unmerged.Length > 0)
            throw CheckpointException.For(path, $"adapters are not merged in {string.Join(", ", unmerged.Take(3))}{(unmerged.Length > 3 ? " and more" : "")}; call MergeLora first");

        using var scope = NewDisposeScope();
        // Views only (detached, transposed where the layout asks): the writer converts one tensor at a time.
        var tensors = model.named_parameters()
            .Where(p => !p.name.Contains(".lora_", StringComparison.Ordinal))
            .Select(p => p.name.Replace(".base_layer.", ".", StringComparison.Ordinal) is var name && storedTransposed?.Invoke(name) == true
                ? (name, p.parameter.detach().t())
                : (name, p.parameter.detach()))
            .ToList();
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        int elementSize = SafetensorsDType.TryParse(SafetensorsDType.NameOf(dtype) ?? "", out _, out int size) ? size
            : throw CheckpointException.For(path, $"dtype {dtype} cannot be stored in safetensors");
        var shards = Shard(tensors, maxShardBytes, elementSize);
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (shards.Count == 1)
        {
            SafetensorsWriter.Write(path, tensors, metadata, dtype);
            RemoveStale(folder, keep: [Path.GetFileName(path)]);                // an older sharded export would win over this file
            return;
        }

        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafetensorsWriter.Write(Path.Combine(folder, name), shards[i], metadata, dtype);
            foreach (var (tensorName, _) in shards[i]) weightMap[tensorName] = name;
        }
        var index = new { metadata = new { total_size = tensors.Sum(t => t.Item2.NumberOfElements * elementSize) }, weight_map = weightMap };
        var json = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(index, new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        AtomicFile.Write(Path.Combine(folder, ShardedCheckpoint.IndexFile), stream => stream.Write(json));   // last: it names the new set
        RemoveStale(folder, keep: [.. weightMap.Values.Distinct(), ShardedCheckpoint.IndexFile]);
    }

    /// <summary>Deletes an earlier export's files (single file, index, shards) that the new one did not write.</summary>
    private static void RemoveStale(string folder, IReadOnlyCollection<string> keep)
    {
        var stale = Directory.EnumerateFiles(folder, "model-*-of-*.safetensors")
            .Append(Path.Combine(folder, ShardedCheckpoint.IndexFile))
            .Append(Path.Combine(folder, ShardedCheckpoint.SingleFile))
            .Where(file => File.Exists(file) && !keep.Contains(Path.GetFileName(file)));
        foreach (var file in stale.ToArray()) File.Delete(file);
    }

    /// <summary>Tensors in order, a new shard whenever the next would pass the limit (a tensor above it gets a shard of its own).</summary>
    private static List<List<(string, Tensor)>> Shard(List<(string Name, Tensor Tensor)> tensors, long maxShardBytes, int elementSize)
    {
        var shards = new List<List<(string, Tensor)>> { new() };
        long size = 0;
        foreach (var (name, tensor) in tensors)
        {
            long bytes = tensor.NumberOfElements * elementSize;                 // as written, in the export dtype
            if (size > 0 && size + bytes > maxShardBytes)
            {
                shards.Add(new());
                size = 0;
            }
            shards[^1].Add((name, tensor));
            size += bytes;
        }
        return shards;
    }
}
