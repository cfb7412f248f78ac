using System.Text.Json;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// The tensors of a checkpoint folder: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (weight_map: tensor name → shard file). Every shard is validated
/// on open, and the index must agree with the shards exactly.
/// </summary>
public sealed class ShardedCheckpoint : IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _owner;
    private readonly List<SafetensorsFile> _files;

    private ShardedCheckpoint(List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> owner)
    {
        _files = files;
        _owner = owner;
    }

    public IEnumerable<string> Names => _owner.Keys;

    public IReadOnlyList<SafetensorsFile> Files => _files;

    public SafetensorsEntry Entry(string name) => Owner(name).Entry(name);

    public Tensor Read(string name) => Owner(name).Read(name);

    public void ReadInto(string name, Tensor destination) => Owner(name).ReadInto(name, destination);

    public static ShardedCheckpoint Open(string folder)
    {
        string index = Path.Combine(folder, IndexFile), single = Path.Combine(folder, SingleFile);
        foreach (var pickle in new[] { "pytorch_model.bin", "model.pt", "pytorch_model.bin.index.json" })
            if (File.Exists(Path.Combine(folder, pickle)) && !File.Exists(index) && !File.Exists(single))
                throw CheckpointException.For(Path.Combine(folder, pickle),
                    "pickle checkpoints (.bin/.pt) can run arbitrary code when loaded and are refused; convert them to safetensors");
        // Anything at these names is read through InputFile, which names what is wrong with it (a folder, a FIFO).
        if (File.Exists(index) || Directory.Exists(index)) return OpenIndex(folder, index);
        if (File.Exists(single) || Directory.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            return new ShardedCheckpoint([file], file.Entries.ToDictionary(e => e.Name, _ => file));
        }
        throw CheckpointException.For(folder, $"no {SingleFile} or {IndexFile}");
    }

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }

    private SafetensorsFile Owner(string name) =>
        _owner.TryGetValue(name, out var file) ? file : throw new CheckpointException($"tensor '{name}' is in no file of this checkpoint");

    private static ShardedCheckpoint OpenIndex(string folder, string index)
    {
        Dictionary<string, string> map;
        try
        {
            using var document = JsonDocument.Parse(InputFile.ReadAllText(index, InputFile.JsonLimit));
            if (!document.RootElement.TryGetProperty("weight_map", out var weights) || weights.ValueKind != JsonValueKind.Object)
                throw CheckpointException.For(index, "missing weight_map");
            map = new Dictionary<string, string>();
            foreach (var p in weights.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw CheckpointException.For(index, p.Name, "its shard must be a file name");
                if (!map.TryAdd(p.Name, p.Value.GetString()!)) throw CheckpointException.For(index, p.Name, "is listed twice in weight_map");
            }
        }
        catch (JsonException e)
        {
            throw CheckpointException.For(index, $"not valid JSON ({e.Message})");
        }

        var files = new List<SafetensorsFile>();
        var owner = new Dictionary<string, SafetensorsFile>();
        try
        {
            foreach (var shard in map.Values.Distinct())
            {
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw CheckpointException.For(index, $"shard '{shard}' must be a file name in the checkpoint folder");
                var file = SafetensorsFile.Open(Path.Combine(folder, shard));
                files.Add(file);
                foreach (var entry in file.Entries)
                {
                    if (!map.TryGetValue(entry.Name, out var listed) || listed != shard)
                        throw CheckpointException.For(file.Path, entry.Name, listed is null ? "is not in the index" : $"the index puts it in {listed}");
                    owner[entry.Name] = file;
                }
            }
            foreach (var (name, shard) in map)
                if (!owner.ContainsKey(name)) throw CheckpointException.For(Path.Combine(folder, shard), name, "listed in the index but not in the shard");
            return new ShardedCheckpoint(files, owner);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }
}
