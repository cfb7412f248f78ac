using LoraGen.Layers;

namespace LoraGen.Serving;

/// <summary>How a served model schedules its requests and holds its adapters.</summary>
/// <param name="MaxRunning">Rows decoded together at most (a batch's size); more requests wait.</param>
/// <param name="MaxWaiting">Requests waiting to join at most; one more is refused with QueueFull (HTTP 429).</param>
/// <param name="Strategy">How a batch computes its rows' adapters (<see cref="MixedBatchStrategy"/>).</param>
/// <param name="AdapterBytes">The bytes adapters in the model (on its device) may take together before the least recently used leave it.</param>
/// <param name="HostAdapterBytes">The bytes adapters' host copies may take together before the least recently used are dropped (read again from their folders).</param>
public sealed record ServingOptions(int MaxRunning = 64, int MaxWaiting = 256, MixedBatchStrategy Strategy = MixedBatchStrategy.Gather,
    long AdapterBytes = long.MaxValue, long HostAdapterBytes = long.MaxValue);
