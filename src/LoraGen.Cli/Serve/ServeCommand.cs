using System.Runtime.InteropServices;
using LoraGen.Devices;
using LoraGen.Serving;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Serve;

/// <summary>
/// `loragen serve`: one base model and many adapters behind vLLM's OpenAI-compatible routes, until Ctrl+C or SIGTERM.
/// </summary>
internal sealed class ServeCommand : AsyncCommand<ServeSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, ServeSettings settings, CancellationToken cancellation)
    {
        var options = settings.Options;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        void Stop(PosixSignalContext signal)
        {
            signal.Cancel = true;   // shut down in order: stop listening, end the streams, free the model
            stop.Cancel();
        }

        // The engine's own queue is never the tighter bound: the server's --queue counts running and waiting requests together.
        using var model = ServedModel.Open(options.Model, new ServingOptions(MaxWaiting: options.Queue,
            AdapterBytes: options.MaxAdapterBytes ?? long.MaxValue, HostAdapterBytes: options.MaxCpuAdapterBytes ?? long.MaxValue), device: ComputeDevice.Resolve(options.Device));
        foreach (var (name, folder) in options.Adapters) model.RegisterAdapter(name, folder);
        await using var server = await OpenAiServer.StartAsync(model, options, stop.Token);
        Console.WriteLine(Terminal.Printable($"serving {model.BaseModelId} with {model.Adapters.Count} adapter(s) at {server.Address}v1 (context {model.ContextLength} tokens; "
            + (options.AdapterRoot is null ? "runtime adapter loading off" : $"runtime adapters from {options.AdapterRoot}") + "); Ctrl+C stops"));
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
            Console.WriteLine("loragen serve: stopping");
        }
        return 0;
    }
}
