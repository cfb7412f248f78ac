using static TorchSharp.torch;

namespace LoraGen.Tests.Build;

public class TorchSharpNativeTests
{
    private static readonly string OutputCopy = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void A_real_tensor_operation_runs()
    {
        using var a = arange(6, dtype: float32).reshape(2, 3);   // [[0,1,2],[3,4,5]]
        using var product = a.matmul(a.t());                     // [[5,14],[14,50]]
        Assert.Equal(new float[] { 5, 14, 14, 50 }, product.data<float>().ToArray());
    }

    [SkippableFact]
    public void The_output_copy_needs_nothing_the_system_lacks()
    {
        var libstdcxx = OperatingSystem.IsLinux() ? GlibcxxMarkerPatch.FindSystemLibstdcxx() : null;
        Skip.If(libstdcxx is null, "no system libstdc++ to compare with (not Linux, or not found)");
        var system = File.ReadAllBytes(libstdcxx!);
        var copy = File.ReadAllBytes(OutputCopy);
        // After the build step, nothing is left to weaken: either the system has every version, or
        // the only missing one was weakened.
        var report = GlibcxxMarkerPatch.WeakenMissingMarkerVersions(copy, v => GlibcxxMarkerPatch.LibraryDefines(system, v));
        Assert.Empty(report);
    }

    [SkippableFact]
    public void Patching_weakens_only_the_marker_version_and_is_idempotent()
    {
        var original = NuGetOriginal();
        Skip.If(original is null, "TorchSharp's native library is not in the NuGet cache here");
        var bytes = File.ReadAllBytes(original);

        // Pretend the system lacks GLIBCXX_3.4.32 (true on Debian 12; decided here, not by the machine).
        bool Provides(string v) => v != "GLIBCXX_3.4.32";
        var first = GlibcxxMarkerPatch.WeakenMissingMarkerVersions(bytes, Provides);
        Assert.Equal(["weakened GLIBCXX_3.4.32 (used only by _ZSt21ios_base_library_initv)"], first);

        var once = (byte[])bytes.Clone();
        var second = GlibcxxMarkerPatch.WeakenMissingMarkerVersions(bytes, Provides);
        Assert.Empty(second);
        Assert.Equal(once, bytes);
        Assert.Equal(1, File.ReadAllBytes(original).Zip(bytes).Count(p => p.First != p.Second));   // one flag byte differs
    }

    [SkippableFact]
    public void A_version_needed_by_a_real_symbol_is_never_weakened()
    {
        var original = NuGetOriginal();
        Skip.If(original is null, "TorchSharp's native library is not in the NuGet cache here");
        var bytes = File.ReadAllBytes(original);
        var before = (byte[])bytes.Clone();

        // Pretend the system lacks an old version that many real symbols need.
        var report = GlibcxxMarkerPatch.WeakenMissingMarkerVersions(bytes, v => v != "GLIBCXX_3.4.9");
        Assert.Single(report);
        Assert.StartsWith("kept GLIBCXX_3.4.9: needed by ", report[0]);
        Assert.Equal(before, bytes);
    }

    [Fact]
    public void Non_elf_input_is_left_alone()
    {
        var bytes = "not an ELF file at all, just text that is long enough to have a header"u8.ToArray();
        Assert.Empty(GlibcxxMarkerPatch.WeakenMissingMarkerVersions(bytes, _ => false));
    }

    /// <summary>The unpatched library in the NuGet cache (the build must never touch it).</summary>
    private static string? NuGetOriginal()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                   ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : null;
    }
}
