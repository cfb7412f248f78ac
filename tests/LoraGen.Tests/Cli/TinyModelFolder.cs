using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Tests.Cli;

/// <summary>A tiny Llama as a Hugging Face folder, with a character-level tokenizer.json, and a peft adapter for it.</summary>
internal static class TinyModelFolder
{
    public const string Letters = "abcdefghijklmnopqrstuvwxyz";

    /// <returns>The model folder (config with a 64-token context, fp32 weights, tokenizer.json) and an adapter folder.</returns>
    public static (string Model, string Adapter) Write(string root)
    {
        string model = Directory.CreateDirectory(Path.Combine(root, "model")).FullName;
        string adapter = Path.Combine(root, "adapter");
        File.WriteAllText(Path.Combine(model, "config.json"), """
            {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 26, "tie_word_embeddings": false, "rms_norm_eps": 1e-5, "max_position_embeddings": 64}
            """);
        string vocab = string.Join(", ", Letters.Select((c, i) => $"\"{c}\": {i}"));
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {" + vocab + "}, \"merges\": []}}");
        manual_seed(400);
        using var llama = new LlamaForCausalLM(ModelConfigReader.FromFile(model));
        SafetensorsWriter.Write(Path.Combine(model, "model.safetensors"), llama.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList());
        var layers = ModelAdapters.Apply(llama, new PeftLoraConfig { R = 4, LoraAlpha = 16, TargetModules = ModuleSelector.AllLinear });
        foreach (var layer in layers) Layers.LayerFactory.Randomize(layer, seed: 401);
        PeftAdapter.Save(llama, adapter);
        return (model, adapter);
    }
}
