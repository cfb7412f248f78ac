using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LoraGen.Cli.Serve;

/// <summary>
/// A request's JSON object, read field by field with the field's expected type: a wrong type, or a field the route does
/// not know, is a 400 naming the field (OpenAI's error.param), so no request is half understood.
/// Null counts as absent, as in OpenAI's API.
/// </summary>
internal sealed class JsonRequest
{
    private readonly JsonElement _root;
    private readonly HashSet<string> _read = [];

    private JsonRequest(JsonElement root) => _root = root;

    /// <summary>The body as a JSON object: 413 past Kestrel's body limit, 400 for anything that is not one JSON object.</summary>
    public static async Task<JsonRequest> ReadAsync(HttpRequest request)
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, default, request.HttpContext.RequestAborted);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? new JsonRequest(document.RootElement.Clone())
                : throw OpenAiError.BadRequest($"the body must be a JSON object; got {Kind(document.RootElement)}");
        }
        catch (JsonException error)
        {
            throw OpenAiError.BadRequest($"malformed JSON: {error.Message}");
        }
        catch (BadHttpRequestException error)
        {
            throw new OpenAiError(error.StatusCode, error.StatusCode == StatusCodes.Status413RequestEntityTooLarge
                ? $"the request body is larger than this server's limit (--max-body-bytes)"
                : error.Message);
        }
    }

    public string? String(string name) => Field(name, JsonValueKind.String, "a string")?.GetString();

    public bool? Bool(string name) => Field(name, JsonValueKind.True, "true or false")?.GetBoolean();

    public double? Number(string name) => Field(name, JsonValueKind.Number, "a number")?.GetDouble();

    public int? Int(string name) =>
        Field(name, JsonValueKind.Number, "an integer") is not { } value ? null
        : value.TryGetInt32(out int n) ? n
        : throw OpenAiError.BadRequest($"'{name}' must be an integer; got {value.GetRawText()}", name);

    public JsonElement? Array(string name) => Field(name, JsonValueKind.Array, "an array");

    public JsonElement? Object(string name) => Field(name, JsonValueKind.Object, "an object");

    /// <summary>Fields OpenAI defines that this server does not do: accepted only when absent or null.</summary>
    public void Unsupported(params string[] names)
    {
        foreach (string name in names)
            if (Field(name, null, "") is not null) throw OpenAiError.BadRequest($"'{name}' is not supported by loragen serve; leave it out", name);
    }

    /// <summary>After every known field was read: any other field is refused, as OpenAI does.</summary>
    public void RefuseOthers()
    {
        foreach (var property in _root.EnumerateObject())
            if (!_read.Contains(property.Name)) throw OpenAiError.BadRequest($"Unrecognized request argument supplied: {property.Name}", property.Name);
    }

    /// <summary>The field when present and not null, after checking its kind (True stands for either boolean; null: any kind).</summary>
    private JsonElement? Field(string name, JsonValueKind? kind, string expected)
    {
        _read.Add(name);
        if (!_root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        bool matches = kind is null || value.ValueKind == kind || kind == JsonValueKind.True && value.ValueKind == JsonValueKind.False;
        return matches ? value : throw OpenAiError.BadRequest($"'{name}' must be {expected}; got {Kind(value)}", name);
    }

    public static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}
