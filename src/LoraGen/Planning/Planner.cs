using LoraGen.Injection;

namespace LoraGen.Planning;

/// <summary>
/// Parameter counts, memory and compute of full fine-tuning, LoRA, DoRA and QLoRA for a model config,
/// exact where the quantity is exact (counts, weight/gradient/optimizer bytes) and modelled where it is not
/// (activations: see <see cref="ActivationModel"/>).
/// </summary>
public static class Planner
{
    public const string AllLinear = "all-linear";

    /// <summary>Card sizes the GPU set is chosen from, in GiB.</summary>
    public static readonly int[] CardGiB = [24, 48, 80, 141];

    /// <summary>
    /// The plan for <paramref name="request"/>. Every count and byte figure is computed in checked 64-bit arithmetic:
    /// a model or batch so large that a figure passes 2⁶³ is a <see cref="PlanException"/>, never a wrong number.
    /// </summary>
    public static TrainingPlan Plan(PlanRequest request)
    {
        var config = request.Config;
        if (request.Batch < 1) throw new PlanException($"batch must be at least 1; got {request.Batch}");
        if (request.Sequence < 1) throw new PlanException($"sequence length must be at least 1; got {request.Sequence}");
        if (!double.IsFinite(request.Alpha)) throw new PlanException($"alpha must be a finite number; got {request.Alpha}");
        try
        {
            checked
            {
                var inventory = ModelInventory.For(config);
                long baseParameters = inventory.TotalParameters;

                var targets = request.Method == TrainingMethod.Full ? [] : ResolveTargets(inventory, request);
                bool dora = request.Method == TrainingMethod.Dora;
                long PerInstance(LinearShape l) => checked((long)request.Rank * (l.In + l.Out) + (dora ? l.Out : 0));
                long adapterParameters = targets.Sum(t => checked(PerInstance(t.Shape) * t.Count));

                var parameters = request.Method == TrainingMethod.Full
                    ? new ParameterSummary(baseParameters, baseParameters)
                    : new ParameterSummary(adapterParameters, baseParameters + adapterParameters);
                var modules = targets
                    .Select(t => new ModuleBreakdown(t.Shape.Path, t.Count, t.Shape.In, t.Shape.Out, PerInstance(t.Shape)))
                    .ToArray();

                var memory = Memory(request, inventory, targets.Sum(t => (long)t.Count), adapterParameters);
                var (flops, fullFlops) = Flops(request, inventory, adapterParameters);
                return new TrainingPlan(request, parameters, baseParameters, modules, memory, flops, fullFlops,
                    GpuSet(memory.Total), GpuSet(memory.TotalCheckpointed));
            }
        }
        catch (OverflowException)
        {
            throw new PlanException(
                $"the figures for this model ({config.Layers:N0} layers of hidden size {config.HiddenSize:N0}, vocabulary {config.VocabSize:N0}) at batch {request.Batch:N0} x sequence {request.Sequence:N0} pass 2^63: too large to mean anything");
        }
    }

    /// <summary>Bytes of one NF4 weight of <paramref name="count"/> values, exactly as <c>QuantizedWeight</c> allocates them.</summary>
    public static long QuantizedBytes(long count)
    {
        long blocks = (count + 63) / 64;
        return (count + 1) / 2 + blocks + 4 * ((blocks + 255) / 256) + 4;
    }

    /// <returns>Each targeted kind of layer with how many of its instances the names select.</returns>
    private static List<(LinearShape Shape, int Count)> ResolveTargets(ModelInventory inventory, PlanRequest request)
    {
        var names = request.Targets.Select(t => t.Trim()).Where(t => t.Length > 0).ToArray();
        if (names.Length == 0) throw new PlanException("targets: the list is empty; give module names (e.g. q_proj,v_proj) or all-linear");
        if (request.Rank < 1) throw new PlanException($"rank must be at least 1; got {request.Rank}");
        if (!(request.Alpha > 0)) throw new PlanException($"alpha must be positive; got {request.Alpha}");

        List<(LinearShape Shape, int Count)> chosen;
        if (names is [AllLinear]) chosen = inventory.Linears.Where(l => !l.IsOutputHead).Select(l => (l, l.Instances)).ToList();
        else
        {
            var known = string.Join(", ", inventory.Linears.Select(l => l.Path.Split('.')[^1]).Distinct());
            foreach (var name in names)
                if (!inventory.Linears.Any(l => l.InstancesMatching(name) > 0))
                    throw new PlanException($"targets: '{name}' matches no Linear module of this model (modules: {known})");
            // An instance counts once however many names select it: all of them if any name does, else the single indices named.
            chosen = inventory.Linears
                .Select(l => (l, names.Any(n => l.PinnedIndex(n) is null && l.InstancesMatching(n) > 0) ? l.Instances
                    : names.Select(l.PinnedIndex).Where(i => i >= 0).Distinct().Count()))
                .Where(t => t.Item2 > 0).ToList();
        }
        var tooSmall = chosen.Select(t => t.Shape).FirstOrDefault(l => request.Rank > Math.Min(l.In, l.Out));
        if (tooSmall is not null)
            throw new PlanException($"rank {request.Rank} is above the size of '{tooSmall.Path}' ({tooSmall.In} x {tooSmall.Out}): r must be at most {Math.Min(tooSmall.In, tooSmall.Out)}");
        return chosen;
    }

    private static MemoryBreakdown Memory(PlanRequest request, ModelInventory inventory, long adaptedLayers, long adapters)
    {
        checked
        {
        long n = inventory.TotalParameters;
        int element = request.Precision == Precision.Mixed ? 2 : 4;   // frozen weights and activations
        long weights, gradients, optimizer;
        switch (request.Method)
        {
            case TrainingMethod.Full when request.Precision == Precision.Mixed:
                // ZeRO paper: 16-bit weights and gradients, fp32 master copy and two fp32 AdamW moments.
                (weights, gradients, optimizer) = (2 * n, 2 * n, 12 * n);
                break;
            case TrainingMethod.Full:
                (weights, gradients, optimizer) = (4 * n, 4 * n, 8 * n);
                break;
            default:
                // Adapters train in fp32 (peft upcasts them): weight, gradient, two moments.
                long frozen = request.Method == TrainingMethod.Qlora
                    ? inventory.Linears.Where(l => !l.IsOutputHead).Sum(l => checked((QuantizedBytes(l.In * l.Out) + (l.HasBias ? element * l.Out : 0)) * l.Instances))
                      + element * (inventory.Linears.Where(l => l.IsOutputHead).Sum(l => checked(l.Parameters * l.Instances)) + inventory.Others.Sum(o => checked(o.Count * o.Instances)))
                    : element * n;
                (weights, gradients, optimizer) = (frozen + 4 * adapters, 4 * adapters, 8 * adapters);
                break;
        }
        var activations = ActivationModel.For(request, adaptedLayers);
        return new MemoryBreakdown(weights, gradients, optimizer, activations.Full * element, activations.Checkpointed * element, activations.Logits * element);
        }
    }

    /// <summary>
    /// Multiply-adds × 2 per token. Full fine-tuning: forward 2 per weight, backward 4 (input and weight
    /// gradients): ≈ 6N. LoRA skips the weight gradients of frozen layers: ≈ 4N, plus 6 per adapter weight.
    /// Attention scores (QKᵀ and the weighted sum over the sequence) add 4·layers·seq·hidden forward, twice that backward.
    /// </summary>
    private static (double Method, double Full) Flops(PlanRequest request, ModelInventory inventory, long adapters)
    {
        var c = request.Config;
        double matmulWeights = inventory.Linears.Sum(l => (double)l.In * l.Out * l.Instances) + (c.TieWordEmbeddings ? (double)c.VocabSize * c.HiddenSize : 0);
        double attention = 3 * 4.0 * c.Layers * request.Sequence * c.HiddenSize;
        double full = 6 * matmulWeights + attention;
        double method = request.Method == TrainingMethod.Full ? full : 4 * matmulWeights + 6.0 * adapters + attention;
        return (method, full);
    }

    /// <summary>The fewest cards of one common size that hold <paramref name="bytes"/>; among those, the smallest card.</summary>
    private static string GpuSet(long bytes)
    {
        var (cards, gib) = CardGiB
            .Select(g => (Cards: Math.Max(1, Math.Ceiling(bytes / (g * 1073741824.0))), GiB: g))
            .OrderBy(o => o.Cards).ThenBy(o => o.GiB)
            .First();
        return $"{cards:N0} x {gib} GB";
    }
}
