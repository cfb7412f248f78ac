using System.ComponentModel;
using System.Net;
using LoraGen.Cli.Options;
using Spectre.Console.Cli;

namespace LoraGen.Cli.Serve;

/// <summary>`loragen serve`'s command line, read into <see cref="ServeOptions"/>; vLLM's names where it has one.</summary>
internal sealed class ServeSettings : ValidatedSettings<ServeOptions>
{
    [CommandOption("--model <DIR>"), Description("a Hugging Face model folder (default: the base of `loragen demo`, with its adapters)")]
    public string? Model { get; init; }

    [CommandOption("--adapter <NAME=DIR>"), Description("a peft adapter folder served under NAME (repeatable; vLLM's --lora-modules)")]
    public string[]? Adapter { get; init; }

    [CommandOption("--adapter-root <DIR>"), Description("allow /v1/load_lora_adapter, for adapter folders below DIR only (default: refused)")]
    public string? AdapterRoot { get; init; }

    [CommandOption("--host <ADDRESS>"), Description("the IP address to listen on, or localhost (default 127.0.0.1: this machine only)")]
    public string? Host { get; init; }

    [CommandOption("--port <PORT>"), Description("the TCP port (default 8000; 0: any free port)")]
    public string? Port { get; init; }

    [CommandOption("--max-tokens-limit <N>"), Description("the most max_tokens a request may ask for (default: the model's context length)")]
    public string? MaxTokensLimit { get; init; }

    [CommandOption("--max-body-bytes <N>"), Description("larger request bodies get 413 (default 1048576)")]
    public string? MaxBodyBytes { get; init; }

    [CommandOption("--queue <N>"), Description("generation requests in flight at once, running or waiting; more get 429 (default 256)")]
    public string? Queue { get; init; }

    [CommandOption("--max-adapter-bytes <N>"), Description("bytes the adapters in the model may take (512M, 2G...); the least recently used idle ones leave it (default: no limit; vLLM counts adapters: --max-loras)")]
    public string? MaxAdapterBytes { get; init; }

    [CommandOption("--max-cpu-adapter-bytes <N>"), Description("bytes the adapters' host copies may take; past it the least recently used are read again from their folders (default: no limit; vLLM: --max-cpu-loras)")]
    public string? MaxCpuAdapterBytes { get; init; }

    [CommandOption("--device <DEVICE>"), Description(OptionValue.DeviceHelp)]
    public string? Device { get; init; }

    protected override ServeOptions Read()
    {
        var defaults = new ServeOptions();
        var adapters = (Adapter ?? []).Select(NamedFolder).ToList();
        if (adapters.GroupBy(a => a.Key).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new UsageException($"--adapter: the name '{twice.Key}' is given twice");
        if (AdapterRoot is not null && !Directory.Exists(AdapterRoot)) throw new UsageException($"--adapter-root: '{AdapterRoot}' is not a folder");
        string host = Host ?? defaults.Host;
        if (host != "localhost" && !IPAddress.TryParse(host, out _)) throw new UsageException($"--host needs an IP address or localhost; got '{host}'");
        var options = defaults with
        {
            Model = Model ?? "",
            Adapters = adapters,
            AdapterRoot = AdapterRoot is null ? null : Path.GetFullPath(AdapterRoot),
            Host = host,
            Port = OptionValue.Int("--port", Port, defaults.Port, 0, 65535),
            MaxTokensLimit = MaxTokensLimit is null ? null : OptionValue.Int("--max-tokens-limit", MaxTokensLimit, 0, 1),
            MaxBodyBytes = OptionValue.Int("--max-body-bytes", MaxBodyBytes, defaults.MaxBodyBytes, 1024),
            Queue = OptionValue.Int("--queue", Queue, defaults.Queue, 1),
            MaxAdapterBytes = OptionValue.Bytes("--max-adapter-bytes", MaxAdapterBytes),
            MaxCpuAdapterBytes = OptionValue.Bytes("--max-cpu-adapter-bytes", MaxCpuAdapterBytes),
            Device = OptionValue.Device(Device),
        };
        if (Model is null) return DemoModels.Find(DemoModels.ReportFolder, options);
        return Directory.Exists(Model) ? options : throw new UsageException($"--model: '{Model}' is not a folder");
    }

    private static KeyValuePair<string, string> NamedFolder(string text)
    {
        int equals = text.IndexOf('=');
        if (equals <= 0 || equals == text.Length - 1) throw new UsageException($"--adapter needs NAME=DIR; got '{text}'");
        string name = text[..equals], folder = text[(equals + 1)..];
        return Directory.Exists(folder) ? new(name, folder) : throw new UsageException($"--adapter {name}: '{folder}' is not a folder");
    }
}
