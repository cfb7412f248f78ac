using System.Reflection;
using LoraGen.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Models.Loading;

/// <summary>
/// Puts a Hugging Face checkpoint into a model whose parameter names are the checkpoint's keys. Every key and
/// shape is checked before the first tensor is read, so a checkpoint that does not fit leaves the model as it was.
/// </summary>
public static class HfWeights
{
    /// <summary>How a model's parameter names relate to a checkpoint's keys.</summary>
    /// <param name="Renames">HF key → model name, for layouts that differ (GPT-2 saved without "transformer.").</param>
    /// <param name="Transposed">Model names whose checkpoint tensors are stored (in, out), as GPT-2's Conv1D.</param>
    /// <param name="Ignored">Checkpoint keys that are not parameters (e.g. cached attention masks).</param>
    public sealed record Layout(Func<string, string>? Renames = null, Func<string, bool>? Transposed = null, Func<string, bool>? Ignored = null)
    {
        public static readonly Layout Identity = new();
    }

    /// <summary>Copies the checkpoint into the model's existing parameters, converting dtype and device.</summary>
    public static void Load(nn.Module model, ShardedCheckpoint checkpoint, Layout? layout = null)
    {
        var sources = Match(model, checkpoint, layout ?? Layout.Identity);
        var parameters = Tensors(model);
        using var _ = no_grad();
        foreach (var (name, key, transposed) in sources)
        {
            var target = parameters[name];
            if (!transposed && target.dtype == checkpoint.Entry(key).Type && target.is_contiguous() && target.device_type == DeviceType.CPU)
            {
                checkpoint.ReadInto(key, target);                                // straight from the file, no copy in between
                continue;
            }
            using var scope = NewDisposeScope();
            var tensor = checkpoint.Read(key);
            if (transposed) tensor = tensor.t();
            target.copy_(tensor);                                                // converts dtype, moves device
        }
    }

    /// <summary>
    /// Gives a model built on the meta device its weights: each parameter becomes a new CPU tensor of
    /// <paramref name="dtype"/> read straight from the checkpoint, so nothing is initialised at random and host
    /// memory peaks at about the model in <paramref name="dtype"/> plus one tensor being converted.
    /// </summary>
    public static void Materialize(nn.Module model, ShardedCheckpoint checkpoint, ScalarType dtype, Layout? layout = null)
    {
        var sources = Match(model, checkpoint, layout ?? Layout.Identity);
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        modules[""] = model;
        var setters = sources.ToDictionary(s => s.Name, s => Setter(modules, s.Name));   // every parameter replaceable, checked first
        var requiresGrad = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.requires_grad);
        using var _ = no_grad();
        foreach (var (name, key, transposed) in sources)
        {
            var entry = checkpoint.Entry(key);
            Tensor data;
            if (!transposed && entry.Type == dtype)
            {
                data = empty(entry.Shape, dtype);                                   // filled by the read, never initialised
                checkpoint.ReadInto(key, data);
            }
            else
            {
                using var scope = NewDisposeScope();
                var read = checkpoint.Read(key);
                data = (transposed ? read.t() : read).to(dtype).contiguous().MoveToOuterDisposeScope();
            }
            setters[name](new Parameter(data, requires_grad: requiresGrad[name]));
        }
    }

    private static Dictionary<string, Tensor> Tensors(nn.Module model)
    {
        var tensors = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, buffer) in model.named_buffers()) tensors[name] = buffer;
        return tensors;
    }

    /// <summary>Each model tensor's checkpoint key, after checking that the names and shapes match exactly.</summary>
    private static List<(string Name, string Key, bool Transposed)> Match(nn.Module model, ShardedCheckpoint checkpoint, Layout layout)
    {
        var renames = layout.Renames ?? (key => key);
        var transposed = layout.Transposed ?? (_ => false);
        var ignored = layout.Ignored ?? (_ => false);
        var parameters = Tensors(model);

        var source = new Dictionary<string, string>();                           // model name → checkpoint key
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
        return source.Select(s => (s.Key, s.Value, transposed(s.Key))).ToList();
    }

    /// <summary>
    /// Replaces a parameter through its module's settable property of the same name, as TorchSharp's own layers
    /// (Linear.weight, Embedding.weight) and ours (RmsNorm.weight) expose it: the setter re-registers it, and the
    /// module's field and its parameter list keep pointing at one tensor.
    /// </summary>
    private static Action<Parameter> Setter(Dictionary<string, nn.Module> modules, string name)
    {
        int dot = name.LastIndexOf('.');
        string path = dot < 0 ? "" : name[..dot], leaf = name[(dot + 1)..];
        var module = modules[path];
        var property = module.GetType().GetProperty(leaf, BindingFlags.Public | BindingFlags.Instance);
        if (property is not { CanWrite: true } || !property.PropertyType.IsAssignableFrom(typeof(Parameter)))
            throw new InvalidOperationException($"{module.GetType().Name} ('{path}') has no settable property '{leaf}', so its parameter cannot be loaded without building it first");
        return parameter => property.SetValue(module, parameter);
    }
}
