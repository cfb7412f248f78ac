using System.Globalization;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Training;

/// <summary>
/// The training loop of a causal language model: AdamW on the trainable parameters, the learning-rate schedule,
/// gradient accumulation and clipping, evaluation, and checkpoints that a later run resumes from exactly where this
/// one was (the same weights, optimizer moments, schedule step, random state and data position), so N steps plus N
/// resumed steps give the bitwise weights of 2N steps on the CPU.
/// </summary>
public sealed class Trainer : IDisposable
{
    private const string WeightsFile = "trainable.safetensors", OptimizerFile = "optimizer.bin", StateFile = "trainer_state.json";

    private readonly nn.Module _model;
    private readonly Func<Tensor, Tensor> _logits;
    private readonly ShuffledBatches _data;
    private readonly IReadOnlyList<TokenBatch> _eval;
    private readonly TrainingOptions _options;
    private readonly List<(string Name, Parameter Parameter)> _trainable;
    private readonly AdamW _optimizer;

    /// <param name="logits">The model's forward pass: ids (batch, seq) → logits (batch, seq, vocab).</param>
    /// <param name="eval">Held-out batches, evaluated every <see cref="TrainingOptions.EvalEvery"/> steps and at the end.</param>
    public Trainer(nn.Module model, Func<Tensor, Tensor> logits, ShuffledBatches data, TrainingOptions options, IReadOnlyList<TokenBatch>? eval = null)
    {
        options.Validate();
        _model = model;
        _logits = logits;
        _data = data;
        _eval = eval ?? [];
        _options = options;
        _trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
        _optimizer = AdamWGroups.Create(_trainable.Select(p => p.Parameter), options.Schedule.PeakRate, options.WeightDecay);
    }

    /// <summary>Optimizer steps taken so far.</summary>
    public int Step { get; private set; }

    /// <summary>Every step's report, in order (a resumed run starts with those of the checkpoint).</summary>
    public List<StepReport> History { get; } = [];

    /// <summary>The checkpoint folder a step writes to: checkpoint-&lt;step&gt; in the output folder.</summary>
    public string CheckpointFolder(int step) =>
        Path.Combine(_options.OutputFolder ?? throw new InvalidOperationException("no OutputFolder to write checkpoints to"),
            $"checkpoint-{step.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>Runs the remaining steps; stops early, with a checkpoint, when <paramref name="cancel"/> fires.</summary>
    public TrainingOutcome Run(CancellationToken cancel = default, Action<StepReport>? report = null)
    {
        _model.train();
        while (Step < _options.Schedule.TotalSteps)
        {
            if (cancel.IsCancellationRequested)
            {
                if (_options.OutputFolder is not null) Save(CheckpointFolder(Step));
                return TrainingOutcome.Cancelled;
            }
            if (TrainStep() is not { } done) return TrainingOutcome.NonFiniteLoss;
            bool last = Step == _options.Schedule.TotalSteps;
            double? evalLoss = _eval.Count > 0 && (last || _options.EvalEvery > 0 && Step % _options.EvalEvery == 0) ? Evaluate() : null;
            var stepReport = done with { EvalLoss = evalLoss };
            History.Add(stepReport);
            report?.Invoke(stepReport);
            if (_options.OutputFolder is not null && (last || _options.SaveEvery > 0 && Step % _options.SaveEvery == 0))
                Save(CheckpointFolder(Step));
        }
        return TrainingOutcome.Completed;
    }

    /// <summary>
    /// One optimizer step over <see cref="TrainingOptions.GradientAccumulation"/> batches, their summed loss divided by
    /// all their learned tokens together (one large batch's mean, as transformers computes it); null when a loss is
    /// not finite.
    /// </summary>
    private StepReport? TrainStep()
    {
        double rate = _options.Schedule.RateAt(Step), lossSum = 0;
        var batches = Enumerable.Range(0, _options.GradientAccumulation).Select(_ => _data.Next()).ToArray();
        try
        {
            long tokens = batches.Sum(b => b.LearnedTokens);
            _optimizer.zero_grad();
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var loss = CausalLmLoss.Sum(_logits(batch.Ids), batch.Labels);
                double value = loss.item<float>();
                if (!double.IsFinite(value))
                {
                    _optimizer.zero_grad();
                    return null;
                }
                (loss / Math.Max(1, tokens)).backward();
                lossSum += value;
            }
            double norm = GradientNorm();
            foreach (var group in _optimizer.ParamGroups) group.LearningRate = rate;
            _optimizer.step();
            _optimizer.zero_grad();
            Step++;
            return new StepReport(Step, lossSum / Math.Max(1, tokens), rate, norm, tokens, null);
        }
        finally
        {
            foreach (var batch in batches) batch.Dispose();
        }
    }

    /// <summary>The global L2 norm of the gradients, clipped to <see cref="TrainingOptions.ClipNorm"/> when set.</summary>
    private double GradientNorm()
    {
        var parameters = _trainable.Select(p => p.Parameter).Where(p => p.grad is not null).ToArray();
        if (_options.ClipNorm is { } clip) return nn.utils.clip_grad_norm_(parameters, clip);
        using var scope = NewDisposeScope();
        return parameters.Select(p => p.grad!.to(ScalarType.Float32).pow(2).sum()).Aggregate((a, b) => a + b).sqrt().item<float>();
    }

    /// <summary>The mean loss over every learned token of the evaluation batches.</summary>
    public double Evaluate()
    {
        if (_eval.Count == 0) throw new InvalidOperationException("no evaluation data");
        bool training = _model.training;
        _model.eval();
        try
        {
            using var _ = no_grad();
            double total = 0;
            long tokens = 0;
            foreach (var batch in _eval)
            {
                using var scope = NewDisposeScope();
                total += CausalLmLoss.Sum(_logits(batch.Ids), batch.Labels).item<float>();
                tokens += batch.LearnedTokens;
            }
            return total / Math.Max(1, tokens);
        }
        finally
        {
            _model.train(training);
        }
    }

    /// <summary>
    /// Writes, atomically, everything a resumed run needs: the trainable weights, the optimizer's state, the step,
    /// the random state and the data position; and the adapter in peft's format when the model has one.
    /// </summary>
    public void Save(string folder) => AtomicFolder.Write(folder, staging =>
    {
        SafetensorsWriter.Write(Path.Combine(staging, WeightsFile), _trainable.Select(p => (p.Name, (Tensor)p.Parameter)));
        _optimizer.save_state_dict(Path.Combine(staging, OptimizerFile));
        using var random = TorchSharp.torch.random.get_rng_state();
        TrainerState.Write(Path.Combine(staging, StateFile), new TrainerState(Step, _data.Position, random.data<byte>().ToArray(), History));
        if (ModelAdapters.Layers(_model).Any()) PeftAdapter.Save(_model, staging);
    });

    /// <summary>Continues from a checkpoint this trainer's configuration wrote: weights, optimizer, step, random state, data position.</summary>
    public void Resume(string folder)
    {
        var state = TrainerState.Read(Path.Combine(folder, StateFile));
        if (state.Step > _options.Schedule.TotalSteps)
            throw CheckpointException.For(folder, $"is at step {state.Step}, past the {_options.Schedule.TotalSteps} steps of this run");
        using (var weights = SafetensorsFile.Open(Path.Combine(folder, WeightsFile)))
        {
            var names = weights.Entries.Select(e => e.Name).ToHashSet();
            var missing = _trainable.Where(p => !names.Contains(p.Name)).Select(p => p.Name).ToArray();
            if (missing.Length > 0 || names.Count != _trainable.Count)
                throw CheckpointException.For(Path.Combine(folder, WeightsFile), $"does not hold this model's trainable parameters (missing [{string.Join(", ", missing.Take(5))}])");
            using var _ = no_grad();
            foreach (var (name, parameter) in _trainable) weights.ReadInto(name, parameter);
        }
        _optimizer.load_state_dict(Path.Combine(folder, OptimizerFile));
        using (var random = tensor(state.RandomState, ScalarType.Byte)) TorchSharp.torch.random.set_rng_state(random);
        _data.Restore(state.Data);
        Step = state.Step;
        History.Clear();
        History.AddRange(state.History);
    }

    public void Dispose() => _optimizer.Dispose();
}
