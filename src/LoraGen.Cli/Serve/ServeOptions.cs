namespace LoraGen.Cli.Serve;

/// <summary>`loragen serve`'s settings, typed; the defaults are the safe ones (loopback, no runtime adapter loading).</summary>
internal sealed record ServeOptions
{
    /// <summary>The base model folder (the demo's base when the command line names none).</summary>
    public string Model { get; init; } = "";

    /// <summary>Adapters registered at start, by name (vLLM's --lora-modules name=path).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Adapters { get; init; } = [];

    /// <summary>The only folder runtime loading may read adapters from; null: /v1/load_lora_adapter and unload are refused.</summary>
    public string? AdapterRoot { get; init; }

    /// <summary>An IP address or "localhost"; anything but loopback has to be asked for.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0: any free port (tests).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>The most max_tokens a request may ask for; null: the model's context length.</summary>
    public int? MaxTokensLimit { get; init; }

    public int MaxBodyBytes { get; init; } = 1 << 20;

    /// <summary>Generation requests in flight at once (running or waiting for the engine); one more gets 429.</summary>
    public int Queue { get; init; } = 256;

    /// <summary>Bytes the adapters in the model may take (the device tier); null: no limit.</summary>
    public long? MaxAdapterBytes { get; init; }

    /// <summary>Bytes the adapters' host copies may take (the host tier); null: no limit.</summary>
    public long? MaxCpuAdapterBytes { get; init; }

    /// <summary>auto (CUDA when available), cpu or cuda.</summary>
    public string Device { get; init; } = "auto";
}
