using LoraGen.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Devices;

public class ComputeDeviceTests
{
    [Fact]
    public void Auto_picks_cuda_only_when_available()
    {
        var device = ComputeDevice.Resolve("auto");
        Assert.Equal(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, device.type);
        Assert.Equal(device.type, ComputeDevice.Resolve(null).type);
    }

    [Fact]
    public void Cpu_is_always_available()
    {
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve("CPU").type);
    }

    [Fact]
    public void Unknown_devices_are_named_in_the_error()
    {
        var error = Assert.Throws<ArgumentException>(() => ComputeDevice.Resolve("tpu"));
        Assert.Contains("'tpu'", error.Message);
    }

    [Fact]
    public void Cuda_without_a_gpu_says_so()
    {
        if (cuda.is_available()) return;
        var error = Assert.Throws<ArgumentException>(() => ComputeDevice.Resolve("cuda:0"));
        Assert.Contains("no CUDA device is available", error.Message);
    }
}

public class HostMemoryTests
{
    [Fact]
    public void The_mmap_threshold_can_be_fixed_on_glibc_Linux()
    {
        bool glibc = OperatingSystem.IsLinux() && File.Exists("/lib/x86_64-linux-gnu/libc.so.6");
        if (!glibc) return;
        Assert.True(HostMemory.FixMmapThreshold(HostMemory.LayerBufferThreshold));
    }
}
