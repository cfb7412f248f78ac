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

    public static TrainingPlan Plan(PlanRequest request)
    {
        var config = request.Config;
        if (request.Batch < 1) throw new PlanException($"batch must be at least 1; got {request.Batch}");
        if (request.Sequence < 1) throw new PlanException($"sequence length must be at least 1; got {request.Sequence}");
        var inventory = ModelInventory.For(config);
        long baseParameters = inventory.TotalParameters;

        var targets = request.Method == TrainingMethod.Full ? [] : ResolveTargets(inventory, request);
        bool dora = request.Method == TrainingMethod.Dora;
        long PerInstance(LinearShape l) => (long)request.Rank * (l.In + l.Out) + (dora ? l.Out : 0);
        long adapterParameters = targets.Sum(PerInstance);

        var parameters = request.Method == TrainingMethod.Full
            ? new ParameterSummary(baseParameters, baseParameters)
            : new ParameterSummary(adapterParameters, baseParameters + adapterParameters);
        var modules = targets
            .GroupBy(l => IndexPattern(l.Path))
            .Select(g => new ModuleBreakdown(g.Key, g.Count(), g.First().In, g.First().Out, PerInstance(g.First())))
            .ToArray();

        var memory = Memory(request, inventory, targets, adapterParameters);
        var (flops, fullFlops) = Flops(request, inventory, adapterParameters);
        return new TrainingPlan(request, parameters, baseParameters, modules, memory, flops, fullFlops,
            GpuSet(memory.Total), GpuSet(memory.TotalCheckpointed));
    }

    /// <summary>Bytes of one NF4 weight of <paramref name="count"/> values, exactly as <c>QuantizedWeight</c> allocates them.</summary>
    public static long QuantizedBytes(long count)
    {
        long blocks = (count + 63) / 64;
        return (count + 1) / 2 + blocks + 4 * ((blocks + 255) / 256) + 4;
    }

    private static List<LinearShape> ResolveTargets(ModelInventory inventory, PlanRequest request)
    {
        var names = request.Targets.Select(t => t.Trim()).Where(t => t.Length > 0).ToArray();
        if (names.Length == 0) throw new PlanException("targets: the list is empty; give module names (e.g. q_proj,v_proj) or all-linear");
        if (request.Rank < 1) throw new PlanException($"rank must be at least 1; got {request.Rank}");
        if (!(request.Alpha > 0)) throw new PlanException($"alpha must be positive; got {request.Alpha}");

        List<LinearShape> chosen;
        if (names is [AllLinear]) chosen = inventory.Linears.Where(l => !l.IsOutputHead).ToList();
        else
        {
            var known = string.Join(", ", inventory.Linears.Select(l => l.Path.Split('.')[^1]).Distinct());
            foreach (var name in names)
                if (!inventory.Linears.Any(l => ModulePath.Matches(l.Path, name)))
                    throw new PlanException($"targets: '{name}' matches no Linear module of this model (modules: {known})");
            chosen = inventory.Linears.Where(l => names.Any(n => ModulePath.Matches(l.Path, n))).ToList();
        }
        var tooSmall = chosen.FirstOrDefault(l => request.Rank > Math.Min(l.In, l.Out));
        if (tooSmall is not null)
            throw new PlanException($"rank {request.Rank} is above the size of '{tooSmall.Path}' ({tooSmall.In} x {tooSmall.Out}): r must be at most {Math.Min(tooSmall.In, tooSmall.Out)}");
        return chosen;
    }

    private static MemoryBreakdown Memory(PlanRequest request, ModelInventory inventory, List<LinearShape> targets, long adapters)
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
                    ? inventory.Linears.Where(l => !l.IsOutputHead).Sum(l => QuantizedBytes(l.In * l.Out) + (l.HasBias ? element * l.Out : 0))
                      + element * (inventory.Linears.Where(l => l.IsOutputHead).Sum(l => l.Parameters) + inventory.Others.Sum(o => o.Count))
                    : element * n;
                (weights, gradients, optimizer) = (frozen + 4 * adapters, 4 * adapters, 8 * adapters);
                break;
        }
        var activations = ActivationModel.For(request, targets);
        return new MemoryBreakdown(weights, gradients, optimizer, activations.Full * element, activations.Checkpointed * element, activations.Logits * element);
    }

    /// <summary>
    /// Multiply-adds × 2 per token. Full fine-tuning: forward 2 per weight, backward 4 (input and weight
    /// gradients): ≈ 6N. LoRA skips the weight gradients of frozen layers: ≈ 4N, plus 6 per adapter weight.
    /// Attention scores (QKᵀ and the weighted sum over the sequence) add 4·layers·seq·hidden forward, twice that backward.
    /// </summary>
    private static (double Method, double Full) Flops(PlanRequest request, ModelInventory inventory, long adapters)
    {
        var c = request.Config;
        double matmulWeights = inventory.Linears.Sum(l => (double)l.In * l.Out) + (c.TieWordEmbeddings ? (double)c.VocabSize * c.HiddenSize : 0);
        double attention = 3 * 4.0 * c.Layers * request.Sequence * c.HiddenSize;
        double full = 6 * matmulWeights + attention;
        double method = request.Method == TrainingMethod.Full ? full : 4 * matmulWeights + 6.0 * adapters + attention;
        return (method, full);
    }

    /// <summary>The fewest cards of one common size that hold <paramref name="bytes"/>; among those, the smallest card.</summary>
    private static string GpuSet(long bytes)
    {
        var (cards, gib) = CardGiB
            .Select(g => (Cards: Math.Max(1, (int)Math.Ceiling(bytes / (g * 1073741824.0))), GiB: g))
            .OrderBy(o => o.Cards).ThenBy(o => o.GiB)
            .First();
        return $"{cards} x {gib} GB";
    }

    private static string IndexPattern(string path) =>
        string.Join('.', path.Split('.').Select(s => s.All(char.IsAsciiDigit) ? ModulePath.IndexSegment : s));
}
