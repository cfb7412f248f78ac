using LoraGen.Layers;
using static TorchSharp.torch;

namespace LoraGen.Adapters;

/// <summary>How <see cref="WeightedAdapters.Add"/> combines adapters (peft's <c>combination_type</c>).</summary>
public enum AdapterCombination
{
    /// <summary>A = Σ sign(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ, B = Σ √|wᵢsᵢ|·Bᵢ; equal ranks only. Not the weighted sum of the updates (cross terms).</summary>
    Linear,

    /// <summary>Ranks concatenated: A = [w₁s₁A₁; w₂s₂A₂; ...], B = [B₁ B₂ ...], so B·A = Σ wᵢ·ΔWᵢ exactly.</summary>
    Cat,

    /// <summary>Σ wᵢ·ΔWᵢ truncated by SVD to the chosen rank (the best approximation of that rank): B = U·S, A = Vᵀ.</summary>
    Svd,
}

/// <summary>peft's <c>add_weighted_adapter</c>: a new adapter made from existing ones, layer by layer.</summary>
public static class WeightedAdapters
{
    /// <summary>
    /// Adds adapter <paramref name="adapterName"/> to every layer that holds one of <paramref name="adapters"/>,
    /// combining those it holds with <paramref name="weights"/>. The new adapter has alpha = r (scaling 1) and
    /// is inactive until chosen, as in peft. Two deliberate differences: <see cref="AdapterCombination.Svd"/>
    /// combines Σ wᵢ·ΔWᵢ (peft multiplies by each scaling twice there), and the new adapter never uses rsLoRA
    /// (peft copies the flag and so scales by √r). DoRA adapters are refused: their magnitudes do not combine.
    /// </summary>
    public static void Add(nn.Module model, IReadOnlyList<string> adapters, IReadOnlyList<double> weights, string adapterName,
        AdapterCombination combination = AdapterCombination.Svd, int? svdRank = null)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentNullException.ThrowIfNull(weights);
        if (adapters.Count == 0) throw new ArgumentException("name at least one adapter to combine.", nameof(adapters));
        if (weights.Count != adapters.Count) throw new ArgumentException($"{weights.Count} weights for {adapters.Count} adapters.", nameof(weights));
        if (weights.Any(w => !double.IsFinite(w))) throw new ArgumentException("weights must be finite numbers.", nameof(weights));
        if (svdRank is < 1) throw new ArgumentException($"svdRank must be at least 1; got {svdRank}.", nameof(svdRank));
        ModelAdapters.RequireKnown(model, adapters);
        ModelAdapters.RequireNewName(model, adapterName);
        if (adapters.Count == 1) combination = AdapterCombination.Linear;            // as peft

        var layers = ModelAdapters.Layers(model).Where(l => adapters.Any(l.AdapterNames.Contains)).ToArray();
        foreach (var layer in layers)
            foreach (var name in adapters.Where(layer.AdapterNames.Contains))
            {
                var config = layer.Adapter(name).Config;
                if (config.UseDora) throw new ArgumentException($"adapter '{name}' uses DoRA ('{layer.GetName()}'): its magnitudes cannot be combined.", nameof(adapters));
                if (combination == AdapterCombination.Linear && config.R != layer.Adapter(adapters.First(layer.AdapterNames.Contains)).Config.R)
                    throw new ArgumentException($"linear combination needs equal ranks; '{layer.GetName()}' has different ranks among {string.Join(", ", adapters)}. Use Cat or Svd.", nameof(combination));
            }

        var first = layers[0].Adapter(adapters.First(layers[0].AdapterNames.Contains)).Config;
        using var scope = NewDisposeScope();
        // Every layer's factors first (an SVD may fail to converge on bad input), then the adapter everywhere.
        var combined = layers.Select(layer =>
        {
            var parts = adapters.Select((name, i) => (Name: name, Weight: weights[i])).Where(p => layer.AdapterNames.Contains(p.Name))
                .Select(p => (Adapter: layer.Adapter(p.Name), p.Weight)).ToArray();
            return (Layer: layer, Factors: Combine(parts, combination, svdRank, layer.Base.DType));   // (r', in), (out, r')
        }).ToArray();
        foreach (var (layer, (a, b)) in combined)
        {
            int rank = (int)a.shape[0];
            var config = new LoraConfig(rank, rank) { Dropout = first.Dropout, Init = first.Init, Bias = first.Bias, AutocastAdapterDtype = first.AutocastAdapterDtype };
            var added = layer.AddAdapter(adapterName, config);
            layer.SetAdapterWeights(adapterName, a.to(added.DType), b.to(added.DType));
        }
        ModelAdapters.Activate(model, ModelAdapters.ActiveAdapters(model));
    }

    /// <returns>(A (r', in), B (out, r')) in fp32 or fp64, such that B·A is the combined update at scaling 1.</returns>
    private static (Tensor A, Tensor B) Combine((LoraAdapter Adapter, double Weight)[] parts, AdapterCombination combination, int? svdRank, ScalarType baseDtype)
    {
        var dtype = AdapterDtypes.Working(baseDtype, parts.Select(p => p.Adapter));
        using var _ = no_grad();
        switch (combination)
        {
            case AdapterCombination.Linear:
            {
                var a = zeros_like(parts[0].Adapter.A.weight, dtype: dtype);
                var b = zeros_like(parts[0].Adapter.B.weight, dtype: dtype);
                foreach (var (adapter, weight) in parts)
                {
                    double ws = weight * adapter.Scaling;
                    a.add_(adapter.A.weight.to(dtype), alpha: Math.Sign(ws) * Math.Sqrt(Math.Abs(ws)));
                    b.add_(adapter.B.weight.to(dtype), alpha: Math.Sqrt(Math.Abs(ws)));
                }
                return (a, b);
            }
            case AdapterCombination.Cat:
                return (cat(parts.Select(p => p.Adapter.A.weight.to(dtype).mul(p.Weight * p.Adapter.Scaling)).ToArray(), 0),
                        cat(parts.Select(p => p.Adapter.B.weight.to(dtype)).ToArray(), 1));
            default:
            {
                var delta = parts.Select(p => p.Adapter.DeltaWeight(dtype).mul(p.Weight)).Aggregate((x, y) => x.add(y));   // (out, in) Σ wᵢ·ΔWᵢ
                int rank = Math.Min(svdRank ?? parts.Max(p => p.Adapter.Config.R), (int)Math.Min(delta.shape[0], delta.shape[1]));
                var (u, s, vh) = linalg.svd(delta, fullMatrices: false);                                              // u (out, k), s (k,), vh (k, in)
                return (vh.narrow(0, 0, rank), u.narrow(1, 0, rank).mul(s.narrow(0, 0, rank).unsqueeze(0)));
            }
        }
    }
}
