using System.Text.Json;
using LoraGen.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraGen.Cli.Serve;

/// <summary>
/// A refused request as vLLM answers it: the HTTP status and {"error": {"message", "type", "param", "code"}}, where
/// type names the status (BadRequestError, NotFoundError...) and code is the status number. Never a stack trace.
/// </summary>
internal sealed class OpenAiError(int status, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;

    public string? Param { get; } = param;

    public static OpenAiError BadRequest(string message, string? param = null) => new(StatusCodes.Status400BadRequest, message, param);

    public static OpenAiError From(ServingException error) => new(error.Kind switch
    {
        ServingError.NotFound => StatusCodes.Status404NotFound,
        ServingError.Conflict => StatusCodes.Status409Conflict,
        ServingError.QueueFull => StatusCodes.Status429TooManyRequests,
        _ => StatusCodes.Status400BadRequest,
    }, error.Message, error.Parameter);

    /// <summary>The error body alone (also sent as the last event of a stream that fails after it started).</summary>
    public object Body => new { error = new { message = Message, type = TypeName(Status), param = Param, code = Status } };

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(response.Body, Body, CompletionEnvelope.Json, response.HttpContext.RequestAborted);
    }

    private static string TypeName(int status) => status switch
    {
        400 => "BadRequestError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        409 => "ConflictError",
        413 => "RequestEntityTooLargeError",
        429 => "TooManyRequestsError",
        _ => "InternalServerError",
    };
}
