using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using TorchSharp;
using LoraGen.Checkpoints;
using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Generation;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using static TorchSharp.torch;

namespace LoraGen.Serving;

/// <summary>
/// A model folder served with its adapters: the model (<see cref="HfModels.Load"/>), its tokenizer and chat format,
/// an <see cref="AdapterPool"/> and a <see cref="GenerationEngine"/>. Text in, text out.
/// </summary>
public sealed class ServedModel : IServedModel, IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly TokenEncoder _encoder;
    private readonly ModelConfig _config;

    private ServedModel(string folder, nn.Module<Tensor, Tensor> model, TokenEncoder encoder, ModelConfig config, int contextLength, ServingOptions options)
    {
        BaseModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        _model = model;
        _encoder = encoder;
        _config = config;
        Pool = new AdapterPool(model, options.AdapterBytes, options.HostAdapterBytes);
        Engine = new GenerationEngine((ICausalLanguageModel)model, Pool, contextLength, options);
    }

    /// <summary>Loads a Hugging Face model folder (config.json, weights, tokenizer) for serving on <paramref name="device"/> (CPU when null); adapters follow the model there.</summary>
    /// <exception cref="NotSupportedException">A family the engine cannot batch (gpt2).</exception>
    public static ServedModel Open(string folder, ServingOptions? options = null, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var config = ModelConfigReader.FromFile(Path.Combine(folder, "config.json"));
        int context = ContextOf(folder, config);
        var encoder = TokenEncoder.FromFolder(folder);
        var model = HfModels.Load(folder, dtype);
        try
        {
            model.eval();
            if (device is not null) model.to(device);
            return new ServedModel(folder, model, encoder, config, context, options ?? new ServingOptions());
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>config.json's max_position_embeddings (n_positions for GPT-2).</summary>
    private static int ContextOf(string folder, ModelConfig config)
    {
        using var document = JsonDocument.Parse(InputFile.ReadAllText(Path.Combine(folder, "config.json"), InputFile.JsonLimit));
        return document.RootElement.TryGetProperty("max_position_embeddings", out var positions) && positions.TryGetInt32(out int length) && length > 0
            ? length
            : config.MaxPositions > 0 ? config.MaxPositions
            : throw new InvalidDataException($"{Path.Combine(folder, "config.json")}: no max_position_embeddings: the context length is unknown.");
    }

    public AdapterPool Pool { get; }

    public GenerationEngine Engine { get; }

    public string BaseModelId { get; }

    public int ContextLength => Engine.ContextLength;

    public IReadOnlyList<AdapterInfo> Adapters => Pool.Adapters;

    /// <summary>The model itself (its adapters change as the pool loads and evicts; compute with it only under the engine's control).</summary>
    public nn.Module<Tensor, Tensor> Model => _model;

    public TokenEncoder Encoder => _encoder;

    public AdapterInfo RegisterAdapter(string name, string folder) => name == BaseModelId
        ? throw new ServingException(ServingError.InvalidRequest, $"'{name}' is the base model's name.", "lora_name")
        : Pool.Register(name, folder);

    public Task UnregisterAdapterAsync(string name, CancellationToken cancel = default) => Pool.UnregisterAsync(name, cancel);

    /// <summary>The conversation as the family's chat format renders it, then the assistant's opening, so that the model continues as the assistant.</summary>
    public string ApplyChatTemplate(IReadOnlyList<ChatMessage> messages)
    {
        ChatFormat format;
        try
        {
            format = ChatFormat.For(_config);
        }
        catch (DataException error)
        {
            throw new ServingException(ServingError.InvalidRequest, error.Message, "messages");
        }
        if (messages.FirstOrDefault(m => m.Role is not ("system" or "user" or "assistant")) is { } odd)
            throw new ServingException(ServingError.InvalidRequest, $"Unknown role '{odd.Role}': a message's role is system, user or assistant.", "messages");
        // An empty assistant turn renders its header, then its (learned) end: everything before that end is the opening.
        var segments = format.Render([.. messages, new ChatMessage("assistant", "")]);
        int end = segments.Select((s, i) => (s, i)).Last(p => p.s.Learned).i;
        return string.Concat(segments.Take(end).Select(s => s.Text));
    }

    /// <summary>The prompt's tokens with BOS first where the tokenizer adds one (not twice when the text starts with it, as a chat prompt does).</summary>
    public long[] Encode(string prompt)
    {
        var ids = _encoder.Tokens(prompt).Select(id => (long)id).ToList();
        if (_encoder.Bos is { } bos && (ids.Count == 0 || ids[0] != bos)) ids.Insert(0, bos);
        return ids.ToArray();
    }

    public int CountTokens(string prompt) => Encode(prompt).Length;

    public IAsyncEnumerable<TextDelta> GenerateAsync(TextRequest request, CancellationToken cancel = default)
    {
        string? adapter = request.Adapter is null || request.Adapter == BaseModelId ? null : request.Adapter;
        var prompt = Encode(request.Prompt);
        var options = request.Options with { EndTokens = [.. request.Options.EndTokens ?? [], .. _encoder.EndTokens] };
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);       // also cancelled when the caller stops reading
        try
        {
            return Stream(Engine.Submit(prompt, adapter, options, stop.Token), prompt.Length, stop);   // refusals are thrown here, before any text
        }
        catch
        {
            stop.Dispose();
            throw;
        }
    }

    private async IAsyncEnumerable<TextDelta> Stream(ChannelReader<GeneratedToken> tokens, int promptTokens, CancellationTokenSource stop,
        [EnumeratorCancellation] CancellationToken cancel = default)
    {
        try
        {
            var text = new IncrementalText(_encoder);
            int produced = 0;
            using var both = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, cancel);
            await foreach (var token in tokens.ReadAllAsync(both.Token).ConfigureAwait(false))
            {
                produced++;
                string piece = token.FinishReason == "stop" ? "" : text.Add(token.Id);   // an end token is not shown
                if (token.FinishReason is { } reason)
                {
                    yield return new TextDelta(piece + text.Flush(), reason, promptTokens, produced);
                    yield break;
                }
                if (piece.Length > 0) yield return new TextDelta(piece);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);                         // a reader that stopped early frees its row
            stop.Dispose();
        }
    }

    public void Dispose()
    {
        Engine.Dispose();
        _model.Dispose();
    }
}
