namespace LoraGen.Cli.Serve;

/// <summary>
/// The generation requests in flight (running or waiting for the engine), at most --queue: one more is refused at once
/// with 429 instead of waiting without bound. A request's slot is given back when its handler ends, also when the client
/// went away mid-stream.
/// </summary>
internal sealed class RequestSlots(int capacity)
{
    private int _taken;

    public int Capacity { get; } = capacity;

    public int InUse => Volatile.Read(ref _taken);

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _taken) <= Capacity) return true;
        Interlocked.Decrement(ref _taken);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _taken);
}
