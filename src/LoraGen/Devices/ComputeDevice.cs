using static TorchSharp.torch;

namespace LoraGen.Devices;

/// <summary>Chooses where tensors live, at run time: the same build runs on CPU-only and CUDA machines.</summary>
public static class ComputeDevice
{
    /// <summary>
    /// "auto" (or null/empty) picks CUDA when TorchSharp sees a GPU, else the CPU; "cpu", "cuda" and
    /// "cuda:N" are taken as asked, and a CUDA request on a machine without one is an error.
    /// </summary>
    public static Device Resolve(string? requested = "auto")
    {
        var ask = string.IsNullOrWhiteSpace(requested) ? "auto" : requested.Trim().ToLowerInvariant();
        if (ask == "auto") return cuda.is_available() ? CUDA : CPU;
        if (ask == "cpu") return CPU;
        if (ask == "cuda" || ask.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available())
                throw new ArgumentException(
                    $"Device '{requested}' was asked for, but no CUDA device is available (build with -p:LoraGenBackend=cuda on a machine with a GPU, or use 'cpu').",
                    nameof(requested));
            return new Device(ask);
        }
        throw new ArgumentException($"Unknown device '{requested}'; use auto, cpu, cuda or cuda:N.", nameof(requested));
    }
}
