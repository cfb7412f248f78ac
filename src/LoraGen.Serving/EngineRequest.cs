using System.Threading.Channels;
using LoraGen.Models.Attention;
using LoraGen.Models.Generation;

namespace LoraGen.Serving;

/// <summary>A request inside the engine: its prompt, adapter, sampler and cache, and the channel its tokens go out on.</summary>
internal sealed class EngineRequest(long[] prompt, string? adapter, GenerationOptions options, IDisposable? lease, CancellationToken cancel)
{
    private readonly Channel<GeneratedToken> _output = Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleWriter = true, SingleReader = true });
    private int _finished;

    public long[] Prompt { get; } = prompt;

    public string? Adapter { get; } = adapter;

    public GenerationOptions Options { get; } = options;

    /// <summary>Its own sampler, seeded as TextGeneration seeds one: a request samples as it would alone.</summary>
    public Random Random { get; } = new(options.Seed);

    public CancellationToken Cancel { get; } = cancel;

    public CancellationTokenRegistration Registration { get; set; }

    /// <summary>Its keys and values, once its prompt has run.</summary>
    public KvCache? Cache { get; set; }

    /// <summary>The last token chosen: the next step's input.</summary>
    public long Last { get; private set; }

    public bool Finished => Volatile.Read(ref _finished) != 0;

    public ChannelReader<GeneratedToken> Output => _output.Reader;

    /// <summary>Sends <paramref name="token"/> out; finishes the request after an end token or its last allowed token.</summary>
    public void Accept(long token)
    {
        Last = token;
        int produced = ++Produced;
        bool end = token == Options.EndToken || Options.EndTokens?.Contains(token) == true;
        string? reason = end ? "stop" : produced >= Options.MaxNewTokens ? "length" : null;
        _output.Writer.TryWrite(new GeneratedToken(token, reason));
        if (reason is not null) Finish();
    }

    public int Produced { get; private set; }

    /// <summary>Ends the request once: the channel completes (with <paramref name="error"/>, if any), the cache and the adapter pin are released.</summary>
    public void Finish(Exception? error = null)
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0) return;
        _output.Writer.TryComplete(error);
        Cache?.Dispose();
        Cache = null;
        lease?.Dispose();
        Registration.Dispose();
    }
}
