using LoraGen.Adapters;
using static TorchSharp.torch;

namespace LoraGen.Checkpoints;

/// <summary>
/// A peft adapter folder read into host memory (<see cref="PeftAdapter.Read"/>): its configuration and its tensors as
/// stored, on the CPU, ready to load into a model any number of times (<see cref="PeftAdapter.Load(nn.Module, PeftAdapterContent, string)"/>).
/// Owns the tensors.
/// </summary>
public sealed class PeftAdapterContent : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    internal PeftAdapterContent(string folder, PeftLoraConfig config, Dictionary<string, Tensor> tensors)
    {
        Folder = folder;
        Config = config;
        _tensors = tensors;
        Bytes = tensors.Values.Sum(t => t.NumberOfElements * t.ElementSize);
    }

    /// <summary>The folder it was read from (errors name its files).</summary>
    public string Folder { get; }

    public PeftLoraConfig Config { get; }

    /// <summary>By peft's key, as in adapter_model.safetensors.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors => _tensors;

    /// <summary>Host memory the tensors take.</summary>
    public long Bytes { get; }

    public void Dispose()
    {
        foreach (var tensor in _tensors.Values) tensor.Dispose();
        _tensors.Clear();
    }
}
