using LoraGen.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Models.Loading;

/// <summary>
/// Copies a Hugging Face checkpoint into a model whose parameter names are the checkpoint's keys. Every key and
/// shape is checked before the first copy, so a checkpoint that does not fit leaves the model as it was.
/// </summary>
public static class HfWeights
{
    /// <param name="renames">HF key → model name, for layouts that differ (GPT-2 saved without "transformer.").</param>
    /// <param name="transposed">Model names whose checkpoint tensors are stored (in, out), as GPT-2's Conv1D.</param>
    /// <param name="ignored">Checkpoint keys that are not parameters (e.g. cached attention masks).</param>
    public static void Load(nn.Module model, ShardedCheckpoint checkpoint, Func<string, string>? renames = null,
        Func<string, bool>? transposed = null, Func<string, bool>? ignored = null)
    {
        renames ??= key => key;
        transposed ??= _ => false;
        ignored ??= _ => false;
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, buffer) in model.named_buffers()) parameters[name] = buffer;

        var source = new Dictionary<string, string>();                       // model name → checkpoint key
        var unexpected = new List<string>();
        foreach (var key in checkpoint.Names)
        {
            if (ignored(key)) continue;
            string name = renames(key);
            if (parameters.ContainsKey(name)) source[name] = key;
            else unexpected.Add(key);
        }
        var missing = parameters.Keys.Where(n => !source.ContainsKey(n)).ToArray();
        if (missing.Length > 0 || unexpected.Count > 0)
            throw new CheckpointException(
                $"checkpoint does not fit {model.GetName()}: missing [{string.Join(", ", missing.Take(5))}]{(missing.Length > 5 ? $" and {missing.Length - 5} more" : "")}, " +
                $"unexpected [{string.Join(", ", unexpected.Take(5))}]{(unexpected.Count > 5 ? $" and {unexpected.Count - 5} more" : "")}");
        foreach (var (name, key) in source)
        {
            var shape = checkpoint.Entry(key).Shape;
            if (transposed(name)) shape = shape.Reverse().ToArray();
            if (!shape.SequenceEqual(parameters[name].shape))
                throw new CheckpointException($"tensor '{key}' has shape [{string.Join(", ", checkpoint.Entry(key).Shape)}]; {model.GetName()}'s '{name}' needs [{string.Join(", ", parameters[name].shape)}]");
        }

        using var _ = no_grad();
        foreach (var (name, key) in source)
        {
            var target = parameters[name];
            if (!transposed(name) && target.dtype == checkpoint.Entry(key).Type && target.is_contiguous() && target.device_type == TorchSharp.DeviceType.CPU)
            {
                checkpoint.ReadInto(key, target);                            // straight from the map, no copy in between
                continue;
            }
            using var scope = NewDisposeScope();
            var tensor = checkpoint.Read(key);
            if (transposed(name)) tensor = tensor.t();
            target.copy_(tensor);                                            // converts dtype, moves device
        }
    }
}
