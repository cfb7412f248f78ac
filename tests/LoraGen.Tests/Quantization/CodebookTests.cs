using LoraGen.Quantization;

namespace LoraGen.Tests.Quantization;

public class CodebookTests
{
    /// <summary>
    /// NF4 from its definition (QLoRA paper; bitsandbytes create_normal_map with offset 0.9677083):
    /// 8 positive quantiles Φ⁻¹(linspace(offset, 0.5, 9)[:-1]), 7 negative −Φ⁻¹(linspace(offset, 0.5, 8)[:-1]),
    /// an exact zero, sorted and divided by the largest.
    /// </summary>
    [Fact]
    public void Nf4_values_are_the_normal_quantiles_of_the_QLoRA_construction()
    {
        const double offset = 0.9677083;
        var positive = Linspace(offset, 0.5, 9).Take(8).Select(InverseNormal);
        var negative = Linspace(offset, 0.5, 8).Take(7).Select(p => -InverseNormal(p));
        var values = positive.Concat(negative).Append(0.0).Order().ToArray();
        double max = values.Max();
        var expected = values.Select(v => v / max).ToArray();

        Assert.Equal(16, FourBitCodebook.Nf4.Length);
        for (int i = 0; i < 16; i++) Assert.Equal(expected[i], FourBitCodebook.Nf4[i], 6);
        Assert.Equal(-1f, FourBitCodebook.Nf4[0]);
        Assert.Equal(0f, FourBitCodebook.Nf4[7]);
        Assert.Equal(1f, FourBitCodebook.Nf4[15]);
    }

    [Fact]
    public void Fp4_values_are_bitsandbytes_e2m1_divided_by_twelve()
    {
        float[] raw = [0, 0.0625f, 8, 12, 4, 6, 2, 3];
        for (int code = 0; code < 8; code++)
        {
            Assert.Equal(raw[code] / 12, FourBitCodebook.Fp4[code], 6);
            Assert.Equal(-raw[code] / 12, FourBitCodebook.Fp4[code + 8], 6);   // bit 3 is the sign
        }
    }

    private static IEnumerable<double> Linspace(double from, double to, int count) =>
        Enumerable.Range(0, count).Select(i => from + (to - from) * i / (count - 1));

    /// <summary>Φ⁻¹ by Acklam's rational approximation (relative error below 1.2e-9), refined once by Newton.</summary>
    private static double InverseNormal(double p)
    {
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        double x;
        if (p < 0.02425)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        else if (p <= 1 - 0.02425)
        {
            double q = p - 0.5, r = q * q;
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
        }
        else
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        return x;
    }
}
