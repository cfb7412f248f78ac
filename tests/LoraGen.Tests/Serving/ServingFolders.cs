using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Attention;
using LoraGen.Models.Generation;
using LoraGen.Models.Llama;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using LoraGen.Tests.Adapters;
using static TorchSharp.torch;

namespace LoraGen.Tests.Serving;

[CollectionDefinition(Name)]
public sealed class ServingCollection : ICollectionFixture<ServingFolders>
{
    public const string Name = "Serving";
}

/// <summary>
/// A tiny Qwen2 (ChatML, an end token, a 96-token context) as a Hugging Face folder with a character-level
/// tokenizer, and 32 peft adapters for it: ranks 2 to 16, all-linear or q/v only, one DoRA, one rsLoRA, random
/// non-zero A and B. Written once for the serving tests.
/// </summary>
public sealed class ServingFolders : TemporaryFolder
{
    public const int Context = 96, AdapterCount = 32;
    public const string Characters = "abcdefghijklmnopqrstuvwxyz \n";
    public const int ImStart = 28, ImEnd = 29;

    public ServingFolders() : base("loragen-serving-")
    {
        Model = Directory.CreateDirectory(Path.Combine(Folder.FullName, "tiny-qwen")).FullName;
        File.WriteAllText(Path.Combine(Model, "config.json"), $$"""
            {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 30, "tie_word_embeddings": false, "rms_norm_eps": 1e-6, "max_position_embeddings": {{Context}},
             "eos_token_id": {{ImEnd}}}
            """);
        string vocab = string.Join(", ", Characters.Select((c, i) => $"{System.Text.Json.JsonSerializer.Serialize(c.ToString())}: {i}"));
        File.WriteAllText(Path.Combine(Model, "tokenizer.json"),
            "{\"added_tokens\": [{\"id\": 28, \"content\": \"<|im_start|>\", \"special\": true}, {\"id\": 29, \"content\": \"<|im_end|>\", \"special\": true}], " +
            "\"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "}, \"merges\": []}}");
        manual_seed(900);
        using (var qwen = new LlamaForCausalLM(ModelConfigReader.FromFile(Path.Combine(Model, "config.json"))))
            SafetensorsWriter.Write(Path.Combine(Model, "model.safetensors"), qwen.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList());

        using var model = HfModels.Load(Model);
        for (int i = 0; i < AdapterCount; i++)
        {
            string name = AdapterName(i);
            int r = new[] { 2, 4, 8, 16 }[i % 4];
            ModelAdapters.Apply(model, new PeftLoraConfig
            {
                R = r,
                LoraAlpha = 2 * r,
                TargetModules = i % 2 == 0 ? ModuleSelector.AllLinear : ModuleSelector.Names("q_proj", "v_proj", "down_proj"),
                UseDora = i == 5,
                UseRsLora = i == 6,
            }, name);
            RuntimeModels.Randomize(model, name, 1000 + 10 * i);
            PeftAdapter.Save(model, AdapterFolder(i), name);
            ModelAdapters.DeleteAdapter(model, name);
        }
    }

    public string Model { get; }

    public static string AdapterName(int i) => $"client{i:D2}";

    public string AdapterFolder(int i) => Path.Combine(Folder.FullName, "adapters", AdapterName(i));

    /// <summary>A fresh model from the folder with every adapter loaded: the reference each served row must equal.</summary>
    public nn.Module<Tensor, Tensor> Reference()
    {
        var model = HfModels.Load(Model);
        for (int i = 0; i < AdapterCount; i++) PeftAdapter.Load(model, AdapterFolder(i), AdapterName(i));
        model.eval();
        return model;
    }

    /// <summary>TextGeneration alone, with <paramref name="adapter"/> active (null: adapters disabled).</summary>
    public static long[] Solo(nn.Module<Tensor, Tensor> reference, string? adapter, IReadOnlyList<long> prompt, GenerationOptions options)
    {
        if (adapter is null)
            using (ModelAdapters.DisableAdapters(reference))
                return TextGeneration.Generate((ICausalLanguageModel)reference, prompt, options);
        ModelAdapters.SetActiveAdapters(reference, adapter);
        return TextGeneration.Generate((ICausalLanguageModel)reference, prompt, options);
    }
}
