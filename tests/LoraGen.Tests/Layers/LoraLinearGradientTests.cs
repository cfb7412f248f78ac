using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Tests.Layers;

public class LoraLinearGradientTests
{
    [Fact]
    public void Only_A_and_B_receive_gradients_and_they_match_the_closed_form()
    {
        using var layer = new LoraLinear(LayerFactory.Base(12, 10, dtype: ScalarType.Float64), new LoraConfig(3, 6), "fc");
        LayerFactory.Randomize(layer);
        manual_seed(12);
        using var x = randn(5, 12, dtype: float64);
        using var g = randn(5, 10, dtype: float64);          // loss = Σ y ⊙ G, so ∂loss/∂y = G

        using var y = layer.forward(x);
        using var loss = (y * g).sum();
        loss.backward();

        var adapter = layer.Adapter("default");
        const double s = 2.0;                                // alpha / r = 6 / 3
        // ∂/∂B = s·Gᵀ·(X·Aᵀ)   (out, r);   ∂/∂A = s·Bᵀ·Gᵀ·X   (r, in)
        using var expectedB = s * g.t().matmul(x.matmul(adapter.A.weight.t()));
        using var expectedA = s * adapter.B.weight.t().matmul(g.t()).matmul(x);
        TensorAssert.Close(expectedB, adapter.B.weight.grad!, 1e-10);
        TensorAssert.Close(expectedA, adapter.A.weight.grad!, 1e-10);
        Assert.Null(layer.BaseLayer.weight.grad);
        Assert.Null(layer.BaseLayer.bias!.grad);
        Assert.Equal(["lora_A.default.weight", "lora_B.default.weight"],
            layer.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
    }

    [Fact]
    public void Gradients_of_A_match_finite_differences()
    {
        using var layer = new LoraLinear(LayerFactory.Base(6, 5, dtype: ScalarType.Float64), new LoraConfig(2, 3) { UseRsLora = true }, "fc");
        LayerFactory.Randomize(layer);
        manual_seed(13);
        using var x = randn(4, 6, dtype: float64);
        var a = layer.Adapter("default").A.weight;

        double Loss()
        {
            using var _ = no_grad();
            using var y = layer.forward(x);
            return y.pow(2).sum().item<double>();
        }

        using (var loss = layer.forward(x).pow(2).sum()) loss.backward();
        using var analytic = a.grad!.clone();
        const double h = 1e-6;
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 6; j++)
            {
                double old = a[i, j].item<double>();
                using (no_grad()) a[i, j] = old + h;
                double up = Loss();
                using (no_grad()) a[i, j] = old - h;
                double down = Loss();
                using (no_grad()) a[i, j] = old;
                Assert.Equal((up - down) / (2 * h), analytic[i, j].item<double>(), 5);
            }
    }

    [Fact]
    public void Dora_gradients_treat_the_norm_as_a_constant()
    {
        using var layer = new LoraLinear(LayerFactory.Base(9, 7, dtype: ScalarType.Float64), new LoraConfig(2, 4) { UseDora = true }, "fc");
        LayerFactory.Randomize(layer);
        manual_seed(14);
        using var x = randn(3, 9, dtype: float64);
        using var g = randn(3, 7, dtype: float64);
        using (var loss = (layer.forward(x) * g).sum()) loss.backward();

        var adapter = layer.Adapter("default");
        const double s = 2.0;
        var m = adapter.Magnitude!.weight;
        using var v = layer.BaseLayer.weight + s * adapter.B.weight.matmul(adapter.A.weight);   // (out, in)
        using var norms = v.pow(2).sum(1).sqrt();                                                // (out,) held constant
        // y = (x·Vᵀ) ⊙ m/‖V‖ + b:  ∂/∂m = Σ_n G ⊙ (x·Vᵀ)/‖V‖;  with c = m/‖V‖, ∂/∂A = s·Bᵀ·(G ⊙ c)ᵀ·X, ∂/∂B = s·(G ⊙ c)ᵀ·X·Aᵀ
        using var expectedM = (g * x.matmul(v.t()) / norms).sum(dim: 0);
        using var gc = g * (m / norms);
        using var expectedA = s * adapter.B.weight.t().matmul(gc.t()).matmul(x);
        using var expectedB = s * gc.t().matmul(x).matmul(adapter.A.weight.t());
        TensorAssert.Close(expectedM, m.grad!, 1e-10);
        TensorAssert.Close(expectedA, adapter.A.weight.grad!, 1e-10);
        TensorAssert.Close(expectedB, adapter.B.weight.grad!, 1e-10);
        Assert.Null(layer.BaseLayer.weight.grad);
    }

    [Theory]
    [InlineData(LoraBias.None, false)]
    [InlineData(LoraBias.All, true)]
    [InlineData(LoraBias.LoraOnly, true)]
    public void Bias_mode_decides_whether_the_base_bias_trains(LoraBias mode, bool trains)
    {
        using var layer = new LoraLinear(LayerFactory.Base(6, 4), new LoraConfig(2, 2) { Bias = mode }, "fc");
        using var x = ones(3, 6);
        using (var loss = layer.forward(x).sum()) loss.backward();
        Assert.Equal(trains, layer.BaseLayer.bias!.requires_grad);
        Assert.Equal(trains, layer.BaseLayer.bias.grad is not null);
        Assert.False(layer.BaseLayer.weight.requires_grad);
    }
}
