using static TorchSharp.torch;

namespace LoraGen.Tests;

internal static class TensorAssert
{
    /// <summary>Largest absolute difference is at most <paramref name="tolerance"/>; shapes equal.</summary>
    public static void Close(Tensor expected, Tensor actual, double tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var diff = (expected.to(float64) - actual.to(float64)).abs().max();
        double max = diff.item<double>();
        Assert.True(max <= tolerance, $"max |expected - actual| = {max:E3} exceeds {tolerance:E1}");
    }

    public static void BitwiseEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var same = expected.eq(actual).all();
        Assert.True(same.item<bool>(), "tensors differ");
    }
}
