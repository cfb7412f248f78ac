using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Tests.Layers;
using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Generation;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using LoraGen.Tests.Cli;

namespace LoraGen.Tests.Serve;

/// <summary>
/// A tiny Llama folder (64-token context) and 32 peft adapters for it, each with its own random weights, under one
/// adapter root; and the library's own answer for a prompt, computed alone (<see cref="Solo"/>) as the reference.
/// </summary>
public sealed class ServedFolders : IDisposable
{
    public const int AdapterCount = 32;
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("loragen-serve-e2e-");
    private readonly Dictionary<(string?, string, int), string> _solo = [];

    public ServedFolders()
    {
        (Model, _) = TinyModelFolder.Write(_root.FullName);
        AdapterRoot = Directory.CreateDirectory(Path.Combine(_root.FullName, "adapters")).FullName;
        Adapters = Enumerable.Range(0, AdapterCount).Select(i => $"a{i:D2}").ToArray();
        for (int i = 0; i < AdapterCount; i++)
        {
            using var model = HfModels.Load(Model);
            foreach (var layer in ModelAdapters.Apply(model, new PeftLoraConfig { R = 4, LoraAlpha = 16, TargetModules = ModuleSelector.AllLinear }))
                LayerFactory.Randomize(layer, seed: 1000 + i);
            PeftAdapter.Save(model, Folder(Adapters[i]));
        }
        Encoder = TokenEncoder.FromFolder(Model);
    }

    public string Model { get; }

    public string AdapterRoot { get; }

    public string[] Adapters { get; }

    public TokenEncoder Encoder { get; }

    public string Folder(string adapter) => Path.Combine(AdapterRoot, adapter);

    /// <summary>The greedy completion of <paramref name="prompt"/> by the base (adapter null) or one adapter, generated alone with the library.</summary>
    public string Solo(string? adapter, string prompt, int maxTokens)
    {
        lock (_solo)
        {
            if (_solo.TryGetValue((adapter, prompt, maxTokens), out var known)) return known;
            using var model = HfModels.Load(Model);
            if (adapter is not null) PeftAdapter.Load(model, Folder(adapter));
            model.eval();
            var ids = (Encoder.Bos is { } bos ? new long[] { bos } : []).Concat(Encoder.Tokens(prompt).Select(t => (long)t)).ToArray();
            var produced = TextGeneration.Generate((ICausalLanguageModel)model, ids, new GenerationOptions(maxTokens, EndTokens: Encoder.EndTokens));
            return _solo[(adapter, prompt, maxTokens)] = Encoder.Decode(produced.Where(t => !Encoder.EndTokens.Contains(t)));
        }
    }

    public void Dispose() => _root.Delete(recursive: true);
}
