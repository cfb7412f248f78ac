using System.Text.Json;
using LoraGen.Models.Generation;

namespace LoraGen.Cli.Serve;

/// <summary>What both completion routes share: which model, how to sample, how many tokens, and whether to stream.</summary>
/// <param name="Model">The request's model field: the base id, an adapter name, or null for the base.</param>
/// <param name="IncludeUsage">stream_options.include_usage: a last chunk with usage and no choices.</param>
internal sealed record GenerationFields(string? Model, GenerationOptions Options, bool Stream, bool IncludeUsage)
{
    /// <param name="defaultMaxTokens">max_tokens when the request has none (16, at most the limit).</param>
    /// <param name="chat">Chat also takes max_completion_tokens, OpenAI's newer name, before max_tokens.</param>
    public static GenerationFields Read(JsonRequest request, int defaultMaxTokens, int maxTokensLimit, bool chat)
    {
        string? model = request.String("model");
        int? newer = chat ? request.Int("max_completion_tokens") : null;
        string maxTokensName = newer is null ? "max_tokens" : "max_completion_tokens";
        int maxTokens = newer ?? request.Int("max_tokens") ?? defaultMaxTokens;
        if (maxTokens < 1) throw OpenAiError.BadRequest($"'{maxTokensName}' must be at least 1; got {maxTokens}", maxTokensName);
        if (maxTokens > maxTokensLimit)
            throw OpenAiError.BadRequest($"'{maxTokensName}' must be at most {maxTokensLimit} on this server (--max-tokens-limit); got {maxTokens}", maxTokensName);
        double temperature = request.Number("temperature") ?? 1.0;   // OpenAI's and vLLM's default: sampling
        if (temperature is < 0 or > 2) throw OpenAiError.BadRequest($"'temperature' must be in [0, 2]; got {temperature}", "temperature");
        double topP = request.Number("top_p") ?? 1.0;
        if (topP is not (> 0 and <= 1)) throw OpenAiError.BadRequest($"'top_p' must be in (0, 1]; got {topP}", "top_p");
        int seed = request.Int("seed") ?? Random.Shared.Next();      // no seed: a different draw each request, as OpenAI
        if (request.Int("n") is { } n && n != 1) throw OpenAiError.BadRequest($"'n' must be 1 on this server; got {n}", "n");
        bool stream = request.Bool("stream") ?? false;
        bool includeUsage = false;
        if (request.Object("stream_options") is { } streamOptions)
        {
            if (!stream) throw OpenAiError.BadRequest("'stream_options' is only allowed when 'stream' is true", "stream_options");
            foreach (var option in streamOptions.EnumerateObject())
                includeUsage = option.Name == "include_usage" && option.Value.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? option.Value.GetBoolean()
                    : throw OpenAiError.BadRequest($"'stream_options' may only hold include_usage (a boolean); got '{option.Name}'", "stream_options");
        }
        request.Unsupported("stop", "logprobs", "top_logprobs", "logit_bias", "presence_penalty", "frequency_penalty", "best_of", "echo", "suffix", "tools", "response_format");
        _ = request.String("user");   // an end-user id for the client's own tracking: accepted, not used
        return new GenerationFields(model, new GenerationOptions(maxTokens, temperature, topP, seed), stream, includeUsage);
    }
}
