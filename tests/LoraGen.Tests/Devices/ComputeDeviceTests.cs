using LoraGen.Devices;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Devices;

public class ComputeDeviceTests
{
    [SkippableFact]
    public void Auto_is_the_cpu_on_a_machine_without_a_gpu()
    {
        Skip.If(cuda.is_available(), "this machine has a CUDA device");
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve("auto").type);
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve(null).type);
    }

    [SkippableFact]
    public void Auto_is_the_first_gpu_on_a_machine_with_one()
    {
        Skip.IfNot(cuda.is_available(), "no CUDA device here");
        var device = ComputeDevice.Resolve("auto");
        Assert.Equal(DeviceType.CUDA, device.type);
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

    [SkippableFact]
    public void Cuda_without_a_gpu_says_so()
    {
        Skip.If(cuda.is_available(), "this machine has a CUDA device");
        var error = Assert.Throws<ArgumentException>(() => ComputeDevice.Resolve("cuda:0"));
        Assert.Contains("no CUDA device is available", error.Message);
    }
}

public class HostMemoryTests
{
    [SkippableFact]
    public void The_mmap_threshold_can_be_fixed_on_glibc_Linux()
    {
        bool glibc = OperatingSystem.IsLinux() && File.Exists("/lib/x86_64-linux-gnu/libc.so.6");
        Skip.IfNot(glibc, "not glibc Linux: there is no allocator setting to change");
        Assert.True(HostMemory.FixMmapThreshold(HostMemory.LayerBufferThreshold));
    }
}
