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

    /// <param name="dtype">The model's dtype (weights are converted on load); fp32 by default.</param>
    public static nn.Module<Tensor, Tensor> Load(string folder, ScalarType dtype = ScalarType.Float32)
    {
        string configPath = Path.Combine(folder, "config.json");
        var config = ModelConfigReader.FromFile(configPath);
        var model = Create(config);
        try
        {
            model.to(dtype);
            using var checkpoint = ShardedCheckpoint.Open(folder);
            if (config.Family == ModelFamily.Gpt2)
                HfWeights.Load(model, checkpoint,
                    renames: key => key.StartsWith("transformer.", StringComparison.Ordinal) || key.StartsWith("lm_head.", StringComparison.Ordinal) ? key : "transformer." + key,
                    transposed: Gpt2LMHeadModel.IsConv1DWeight,
                    ignored: key => key.EndsWith(".attn.bias", StringComparison.Ordinal) || key.EndsWith(".attn.masked_bias", StringComparison.Ordinal) || key == "lm_head.weight");
            else
                HfWeights.Load(model, checkpoint,
                    ignored: key => key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (config.TieWordEmbeddings && key == "lm_head.weight"));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
