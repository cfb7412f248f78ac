using LoraGen.Checkpoints;
using LoraGen.Models.Gemma;
using LoraGen.Models.Gpt2;
using LoraGen.Models.Llama;
using LoraGen.Models.Phi;
using LoraGen.Models.Phi3;
using LoraGen.Planning;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Models.Loading;

/// <summary>Builds a reference model from a Hugging Face folder (config.json + safetensors) and loads its weights.</summary>
public static class HfModels
{
    /// <summary>
    /// Writes a merged model as the checkpoint its transformers class loads (<see cref="MergedExport"/>, with GPT-2's
    /// Conv1D weights stored (in, out) again).
    /// </summary>
    /// <param name="maxShardBytes">Above this, shards and an index as save_pretrained writes them (5 GB by default).</param>
    public static void Export(nn.Module model, string path, ScalarType dtype = ScalarType.BFloat16, long maxShardBytes = MergedExport.DefaultMaxShardBytes) =>
        MergedExport.Write(path, model, dtype, model is Gpt2LMHeadModel ? Gpt2LMHeadModel.IsConv1DWeight : null, maxShardBytes);

    /// <summary>The files of a model folder that describe it besides its weights: carried into a folder written from it.</summary>
    private static readonly string[] DescriptionFiles =
        ["config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"];

    /// <summary>
    /// transformers' save_pretrained for a model loaded from <paramref name="source"/>: the weights (<see cref="Export"/>,
    /// adapters merged first) and the source's config and tokenizer files, into <paramref name="target"/> atomically
    /// and whole (nothing of an earlier folder there survives).
    /// </summary>
    public static void SaveFolder(nn.Module model, string source, string target, ScalarType dtype) => AtomicFolder.Write(target, staging =>
    {
        Export(model, Path.Combine(staging, ShardedCheckpoint.SingleFile), dtype);
        foreach (var file in DescriptionFiles.Select(name => Path.Combine(source, name)).Where(File.Exists).Concat(Directory.GetFiles(source, "*.tiktoken")))
            File.Copy(file, Path.Combine(staging, Path.GetFileName(file)));
    }, keepOtherFiles: false);

    /// <summary>The reference class of <paramref name="config"/>'s family, freshly initialised (on the meta device: shapes only).</summary>
    public static nn.Module<Tensor, Tensor> Create(ModelConfig config, Device? device = null) => config.Family switch
    {
        ModelFamily.Llama or ModelFamily.Qwen2 or ModelFamily.Qwen3 => new LlamaForCausalLM(config, device),
        ModelFamily.Gemma2 or ModelFamily.Gemma3 => new GemmaForCausalLM(config, device),
        ModelFamily.Phi3 => new Phi3ForCausalLM(config, device),
        ModelFamily.Gpt2 => new Gpt2LMHeadModel(config, device),
        ModelFamily.Phi => new PhiForCausalLM(config, device),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Family, "no model class for this family"),
    };

    /// <summary>
    /// Builds the model on the meta device (no memory, no random initialisation) and gives every parameter its
    /// weights straight from the checkpoint in <paramref name="dtype"/>: host memory peaks at about the model in
    /// that dtype plus one tensor being converted.
    /// </summary>
    /// <param name="dtype">The model's dtype (weights are converted on load); fp32 by default.</param>
    public static nn.Module<Tensor, Tensor> Load(string folder, ScalarType dtype = ScalarType.Float32)
    {
        var config = ModelConfigReader.FromFile(Path.Combine(folder, "config.json"));
        using var checkpoint = ShardedCheckpoint.Open(folder);
        var model = Create(config, new Device(DeviceType.META));
        try
        {
            HfWeights.Materialize(model, checkpoint, dtype, LayoutOf(config));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>How the family's checkpoint keys map onto the model's parameter names.</summary>
    private static HfWeights.Layout LayoutOf(ModelConfig config) => config.Family == ModelFamily.Gpt2
        ? new HfWeights.Layout(
            Renames: key => key.StartsWith("transformer.", StringComparison.Ordinal) || key.StartsWith("lm_head.", StringComparison.Ordinal) ? key : "transformer." + key,
            Transposed: Gpt2LMHeadModel.IsConv1DWeight,
            Ignored: key => key.EndsWith(".attn.bias", StringComparison.Ordinal) || key.EndsWith(".attn.masked_bias", StringComparison.Ordinal) || key == "lm_head.weight")
        : new HfWeights.Layout(
            Ignored: key => key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (config.TieWordEmbeddings && key == "lm_head.weight"));
}
