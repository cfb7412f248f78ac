using System.Runtime.InteropServices;

namespace LoraGen.Devices;

/// <summary>
/// Host (CPU) memory behaviour of the process. glibc serves large blocks with mmap and returns them to the
/// OS on free, but raises that threshold (up to 32 MB) each time such a block is freed; after that,
/// freed layer-sized tensors stay in a fragmenting heap and peak memory grows with it. Training on the CPU,
/// and QLoRA in particular (which dequantizes a layer at a time), keeps its footprint when the threshold is fixed.
/// </summary>
public static partial class HostMemory
{
    private const int MmapThresholdOption = -3;   // M_MMAP_THRESHOLD in glibc's malloc.h

    /// <summary>
    /// glibc's own starting value, kept fixed. Measured on the QLoRA benchmark: 128 KB gives the lowest peak
    /// (401 MB against 502 MB at 1 MB) at no measurable cost in time.
    /// </summary>
    public const int LayerBufferThreshold = 128 * 1024;

    /// <summary>
    /// Fixes glibc's mmap threshold for the whole process (the same as MALLOC_MMAP_THRESHOLD_=bytes in the
    /// environment): a training program calls it once, before building its model. Nothing in LoraGen calls it
    /// for you. Measured on the QLoRA benchmark (24 x 2048² layers): QLoRA's peak memory is about twice
    /// LoRA's without it and about a third lower with it. Returns false where there is no glibc to tune (not
    /// Linux, or another C library); then nothing changes.
    /// </summary>
    public static bool FixMmapThreshold(int bytes = LayerBufferThreshold)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return mallopt(MmapThresholdOption, bytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>A field of /proc/self/status in bytes, e.g. "VmRSS" (resident now) or "VmHWM" (peak resident).</summary>
    public static long StatusBytes(string field) =>
        1024 * long.Parse(File.ReadAllLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sets the kernel's peak-resident mark (VmHWM) back to the current resident size.</summary>
    public static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int option, int value);
}
