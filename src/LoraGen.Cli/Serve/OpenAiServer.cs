using System.Net;
using LoraGen.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace LoraGen.Cli.Serve;

/// <summary>
/// The OpenAI-compatible HTTP server over one <see cref="IServedModel"/>: Kestrel and minimal APIs with nothing else
/// (no configuration files, no logging to the console, which is the command's), the routes vLLM serves for LoRA.
/// </summary>
internal sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OpenAiServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where it listens, e.g. http://127.0.0.1:8000/ (the port chosen when asked for 0).</summary>
    public Uri Address { get; }

    public static async Task<OpenAiServer> StartAsync(IServedModel model, ServeOptions options, CancellationToken cancel = default)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            if (options.Host == "localhost") kestrel.ListenLocalhost(options.Port);
            else kestrel.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        builder.Services.AddRoutingCore();
        var app = builder.Build();
        var completions = new CompletionRoutes(model, new RequestSlots(options.Queue), options.MaxTokensLimit ?? model.ContextLength);
        var adapters = new AdapterRoutes(model, options.AdapterRoot is null ? null : new AdapterRoot(options.AdapterRoot));
        app.MapGet("/v1/models", Guarded(adapters.ModelsAsync));
        app.MapPost("/v1/completions", Guarded(completions.CompletionsAsync));
        app.MapPost("/v1/chat/completions", Guarded(completions.ChatCompletionsAsync));
        app.MapPost("/v1/load_lora_adapter", Guarded(adapters.LoadAsync));
        app.MapPost("/v1/unload_lora_adapter", Guarded(adapters.UnloadAsync));
        app.MapFallback(Guarded(http => throw new OpenAiError(StatusCodes.Status404NotFound, $"no route {http.Request.Method} {http.Request.Path}")));
        await app.StartAsync(cancel);
        string bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OpenAiServer(app, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Every refusal as an OpenAI error body with its status; a client that went away is no error.</summary>
    private static RequestDelegate Guarded(Func<HttpContext, Task> handle) => async http =>
    {
        try
        {
            await handle(http);
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client left (mid-stream or while waiting): nothing to answer; the slot and the generation are freed on the way out.
        }
        catch (Exception error) when (!http.Response.HasStarted)
        {
            await (error switch
            {
                OpenAiError known => known,
                ServingException serving => OpenAiError.From(serving),
                _ => new OpenAiError(StatusCodes.Status500InternalServerError, $"internal error ({error.GetType().Name}): {error.Message}"),
            }).WriteAsync(http.Response);
        }
    };
}
