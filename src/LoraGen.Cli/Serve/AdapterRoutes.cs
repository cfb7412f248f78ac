using LoraGen.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraGen.Cli.Serve;

/// <summary>
/// GET /v1/models and vLLM's runtime adapter routes, POST /v1/load_lora_adapter and /v1/unload_lora_adapter, answered
/// as vLLM answers them (a plain-text "Success: ..." line, or an error body). Runtime loading needs --adapter-root, as
/// vLLM needs VLLM_ALLOW_RUNTIME_LORA_UPDATING.
/// </summary>
internal sealed class AdapterRoutes(IServedModel model, AdapterRoot? root)
{
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>vLLM's model cards: the base with its context length, then each adapter with parent = the base and root = its folder.</summary>
    public Task ModelsAsync(HttpContext http)
    {
        var cards = new List<ModelCard> { new(model.BaseModelId, _created, model.BaseModelId, null, model.ContextLength) };
        cards.AddRange(model.Adapters.Select(a => new ModelCard(a.Name, _created, a.Folder, model.BaseModelId, null)));
        return http.Response.WriteAsJsonAsync(new ModelList(cards), CompletionEnvelope.Json, http.RequestAborted);
    }

    public async Task LoadAsync(HttpContext http)
    {
        var request = await JsonRequest.ReadAsync(http.Request);
        string? name = request.String("lora_name"), path = request.String("lora_path");
        request.Unsupported("load_inplace");
        request.RefuseOthers();
        var allowed = Allowed();
        if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(path)) throw OpenAiError.BadRequest("Both 'lora_name' and 'lora_path' must be provided.");
        if (name == model.BaseModelId || model.Adapters.Any(a => a.Name == name))
            throw OpenAiError.BadRequest($"The lora adapter '{name}' has already been loaded.", "lora_name");
        model.RegisterAdapter(name, allowed.Resolve(path));
        await http.Response.WriteAsync($"Success: LoRA adapter '{name}' added successfully.", http.RequestAborted);
    }

    public async Task UnloadAsync(HttpContext http)
    {
        var request = await JsonRequest.ReadAsync(http.Request);
        string? name = request.String("lora_name");
        _ = request.Int("lora_int_id");   // vLLM's clients may send it; names are what this server goes by
        request.RefuseOthers();
        Allowed();
        if (string.IsNullOrEmpty(name)) throw OpenAiError.BadRequest("'lora_name' needs to be provided to unload a LoRA adapter.", "lora_name");
        if (model.Adapters.All(a => a.Name != name)) throw new OpenAiError(StatusCodes.Status404NotFound, $"The lora adapter '{name}' cannot be found.", "lora_name");
        await model.UnregisterAdapterAsync(name, http.RequestAborted);   // returns once the requests using it have finished
        await http.Response.WriteAsync($"Success: LoRA adapter '{name}' removed successfully.", http.RequestAborted);
    }

    private AdapterRoot Allowed() => root ?? throw new OpenAiError(StatusCodes.Status403Forbidden,
        "runtime adapter loading is off: start loragen serve with --adapter-root DIR to load and unload adapters from below DIR (vLLM: VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)");

    private sealed record ModelList(IReadOnlyList<ModelCard> Data)
    {
        public string Object => "list";
    }

    /// <param name="MaxModelLen">The base's context length; null on adapters, as vLLM.</param>
    private sealed record ModelCard(string Id, long Created, string Root, string? Parent, int? MaxModelLen)
    {
        public string Object => "model";

        public string OwnedBy => "loragen";
    }
}
