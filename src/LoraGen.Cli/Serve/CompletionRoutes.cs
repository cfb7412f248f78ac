using System.Text;
using System.Text.Json;
using LoraGen.Models.Data;
using LoraGen.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraGen.Cli.Serve;

/// <summary>POST /v1/completions and /v1/chat/completions: the request read and checked, a slot taken, the generation run.</summary>
internal sealed class CompletionRoutes(IServedModel model, RequestSlots slots, int maxTokensLimit)
{
    /// <summary>max_tokens when a completion request has none: OpenAI's and vLLM's default for /v1/completions.</summary>
    private const int DefaultMaxTokens = 16;

    public async Task CompletionsAsync(HttpContext http)
    {
        var request = await JsonRequest.ReadAsync(http.Request);
        string prompt = request.String("prompt") ?? throw OpenAiError.BadRequest("'prompt' is required (a string)", "prompt");
        var fields = GenerationFields.Read(request, Math.Min(DefaultMaxTokens, maxTokensLimit), maxTokensLimit, chat: false);
        request.RefuseOthers();
        await RunAsync(http, prompt, fields, new TextCompletionFormat(fields.Model ?? model.BaseModelId));
    }

    public async Task ChatCompletionsAsync(HttpContext http)
    {
        var request = await JsonRequest.ReadAsync(http.Request);
        var messages = Messages(request.Array("messages") ?? throw OpenAiError.BadRequest("'messages' is required (an array)", "messages"));
        string prompt = model.ApplyChatTemplate(messages);
        // vLLM's chat default: the rest of the context (within this server's limit); at least one, so a prompt that fills the context is refused as too long.
        int rest = Math.Max(1, model.ContextLength - model.CountTokens(prompt));
        var fields = GenerationFields.Read(request, Math.Min(rest, maxTokensLimit), maxTokensLimit, chat: true);
        request.RefuseOthers();
        await RunAsync(http, prompt, fields, new ChatCompletionFormat(fields.Model ?? model.BaseModelId));
    }

    private async Task RunAsync(HttpContext http, string prompt, GenerationFields fields, CompletionFormat format)
    {
        var adapter = AdapterOf(fields.Model);
        if (!slots.TryTake())
            throw new OpenAiError(StatusCodes.Status429TooManyRequests, $"the server has {slots.Capacity} requests in flight (--queue); try again later");
        try
        {
            await CompletionRunner.RunAsync(http, model, new TextRequest(prompt, adapter, fields.Options), fields, format);
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>The adapter the model field names: null for the base (its id, or no model field); 404 for a name not served.</summary>
    private string? AdapterOf(string? name) =>
        name is null || name == model.BaseModelId ? null
        : model.Adapters.Any(a => a.Name == name) ? name
        : throw new OpenAiError(StatusCodes.Status404NotFound, $"The model `{name}` does not exist.", "model");

    /// <summary>OpenAI's messages: role and content, the content a string or a list of text parts.</summary>
    private static List<ChatMessage> Messages(JsonElement messages)
    {
        var read = new List<ChatMessage>();
        foreach (var message in messages.EnumerateArray())
        {
            string param = $"messages[{read.Count}]";
            if (message.ValueKind != JsonValueKind.Object) throw OpenAiError.BadRequest($"'{param}' must be an object; got {JsonRequest.Kind(message)}", param);
            string? role = null, content = null;
            foreach (var field in message.EnumerateObject())
            {
                if (field.Name == "role") role = field.Value.ValueKind == JsonValueKind.String ? field.Value.GetString() : throw OpenAiError.BadRequest($"'{param}.role' must be a string", $"{param}.role");
                else if (field.Name == "content") content = Content(field.Value, $"{param}.content");
                else if (field.Name != "name") throw OpenAiError.BadRequest($"'{param}' has a field this server does not take: {field.Name}", $"{param}.{field.Name}");
            }
            read.Add(new ChatMessage(role ?? throw OpenAiError.BadRequest($"'{param}.role' is required", $"{param}.role"),
                content ?? throw OpenAiError.BadRequest($"'{param}.content' is required", $"{param}.content")));
        }
        return read.Count > 0 ? read : throw OpenAiError.BadRequest("'messages' must hold at least one message", "messages");
    }

    private static string Content(JsonElement content, string param)
    {
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw OpenAiError.BadRequest($"'{param}' must be a string or a list of text parts; got {JsonRequest.Kind(content)}", param);
        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
            text.Append(part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var type) && type.ValueEquals("text")
                && part.TryGetProperty("text", out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : throw OpenAiError.BadRequest($"'{param}' may only hold text parts ({{\"type\": \"text\", \"text\": ...}})", param));
        return text.ToString();
    }
}
