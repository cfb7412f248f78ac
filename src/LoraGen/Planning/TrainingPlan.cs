namespace LoraGen.Planning;

/// <summary>What to plan for.</summary>
/// <param name="Targets">peft-style names (exact path or dotted suffix), or the single entry "all-linear".</param>
public sealed record PlanRequest(
    ModelConfig Config, TrainingMethod Method, int Rank, double Alpha, IReadOnlyList<string> Targets,
    int Batch = 1, int Sequence = 2048, Precision Precision = Precision.Mixed);

/// <summary>The adapted layers of one kind (e.g. every q_proj), with their trainable counts.</summary>
/// <param name="Pattern">The module path with the layer index as <c>{i}</c>.</param>
public sealed record ModuleBreakdown(string Pattern, int Instances, long InFeatures, long OutFeatures, long TrainablePerInstance)
{
    public long TrainableTotal => Instances * TrainablePerInstance;
}

/// <summary>Bytes of a training step, by kind. Totals include the activations of the chosen batch × sequence.</summary>
/// <param name="Activations">Kept for backward without gradient checkpointing (the logits' share excluded).</param>
/// <param name="ActivationsCheckpointed">With checkpointing: each layer's input, plus one layer recomputed.</param>
/// <param name="Logits">The output distribution kept for the loss: tokens × vocabulary.</param>
public sealed record MemoryBreakdown(long Weights, long Gradients, long OptimizerStates, long Activations, long ActivationsCheckpointed, long Logits)
{
    /// <summary>Throws <see cref="OverflowException"/> past 2⁶³ (the planner turns it into a <see cref="PlanException"/>).</summary>
    public long Total => checked(Weights + Gradients + OptimizerStates + Activations + Logits);

    public long TotalCheckpointed => checked(Weights + Gradients + OptimizerStates + ActivationsCheckpointed + Logits);
}

/// <summary>The planner's answer.</summary>
/// <param name="FlopsPerToken">Forward + backward multiply-adds × 2 for one token of the chosen method.</param>
/// <param name="FullFlopsPerToken">The same for full fine-tuning (≈ 6 × parameters, plus attention).</param>
/// <param name="GpuSet">The smallest set of one common card size that holds <see cref="MemoryBreakdown.Total"/>.</param>
public sealed record TrainingPlan(
    PlanRequest Request, ParameterSummary Parameters, long BaseParameters, IReadOnlyList<ModuleBreakdown> Modules,
    MemoryBreakdown Memory, double FlopsPerToken, double FullFlopsPerToken, string GpuSet, string GpuSetCheckpointed)
{
    /// <summary>The planned adapters as a run-time configuration (<c>model.ApplyLora(plan.AdapterConfig())</c>): the targets and settings asked for.</summary>
    public Adapters.PeftLoraConfig AdapterConfig() => new()
    {
        R = Request.Rank,
        LoraAlpha = Request.Alpha,
        TargetModules = Request.Targets is [Planner.AllLinear] ? Adapters.ModuleSelector.AllLinear : Adapters.ModuleSelector.Names(Request.Targets.ToArray()),
        UseDora = Request.Method == TrainingMethod.Dora,
    };
}
