using LoraGen.Adapters;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using LoraGen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Tests.Training;

/// <summary>The training loop on a tiny Llama with LoRA (dropout on, so the random state matters) over a toy language.</summary>
public sealed class TrainerTests : IDisposable
{
    private static readonly ModelConfig Config = new("llama", ModelFamily.Llama, 16, 32, 1, 2, 1, 20, false);
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-trainer-");

    public void Dispose() => _folder.Delete(recursive: true);

    /// <summary>Sequences counting up from a random start (mod 20), the first three tokens a prompt that is not learned.</summary>
    private static List<TrainingExample> Counting(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int start = random.Next(20);
            return new TrainingExample(Enumerable.Range(0, 8).Select(i => (long)((start + i) % 20)).ToArray(), Enumerable.Range(0, 8).Select(i => i >= 3).ToArray());
        }).ToList();
    }

    private static LlamaForCausalLM Model(int seed)
    {
        manual_seed(seed);
        var model = new LlamaForCausalLM(Config);
        model.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, LoraDropout = 0.1, TargetModules = ModuleSelector.AllLinear });
        return model;
    }

    private TrainingOptions Options(int steps, string? output = null) =>
        new(LearningRateSchedule.Create(ScheduleKind.Cosine, 5e-2, 2, steps)) { GradientAccumulation = 2, SaveEvery = 3, OutputFolder = output, WeightDecay = 0.01 };

    [Fact]
    public void Steps_N_then_resumed_N_give_the_bitwise_weights_of_2N_steps()
    {
        var examples = Counting(24, 1);
        Dictionary<string, Tensor> Trainable(nn.Module m) => m.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => (Tensor)p.parameter);

        using var straight = Model(5);
        manual_seed(6);
        using (var trainer = new Trainer(straight, straight.forward, new ShuffledBatches(examples, 4, 7), Options(6)))
            Assert.Equal(TrainingOutcome.Completed, trainer.Run());

        string output = Path.Combine(_folder.FullName, "run");
        using (var first = Model(5))
        {
            manual_seed(6);
            using var trainer = new Trainer(first, first.forward, new ShuffledBatches(examples, 4, 7), Options(6, output));
            using var cancel = new CancellationTokenSource();
            Assert.Equal(TrainingOutcome.Cancelled, trainer.Run(cancel.Token, report => { if (report.Step == 3) cancel.Cancel(); }));
        }
        Assert.True(Directory.Exists(Path.Combine(output, "checkpoint-3")));
        Assert.True(File.Exists(Path.Combine(output, "checkpoint-3", "adapter_model.safetensors")));   // the adapter in peft's format too

        using var resumed = Model(5);                                                      // the same frozen base, as from the same HF folder
        using (no_grad())
            foreach (var p in resumed.parameters().Where(p => p.requires_grad)) p.fill_(0.5);   // trained weights all come from the checkpoint
        manual_seed(123);                                                                  // another random state: restored too
        using (var trainer = new Trainer(resumed, resumed.forward, new ShuffledBatches(examples, 4, 7), Options(6, output)))
        {
            trainer.Resume(Path.Combine(output, "checkpoint-3"));
            Assert.Equal(3, trainer.Step);
            Assert.Equal(TrainingOutcome.Completed, trainer.Run());
            Assert.Equal(6, trainer.History.Count);
        }
        var expected = Trainable(straight);
        foreach (var (name, actual) in Trainable(resumed)) TensorAssert.BitwiseEqual(expected[name], actual);
        Assert.True(Directory.Exists(Path.Combine(output, "checkpoint-6")));
    }

    [Fact]
    public void The_loss_falls_and_the_evaluation_reports_perplexity()
    {
        using var model = Model(8);
        var eval = new ShuffledBatches(Counting(8, 2), 8, 3).Next();
        var reports = new List<StepReport>();
        using (var trainer = new Trainer(model, model.forward, new ShuffledBatches(Counting(64, 4), 8, 9),
                   new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Linear, 3e-2, 5, 60)) { EvalEvery = 20 }, [eval]))
        {
            double before = trainer.Evaluate();
            Assert.Equal(TrainingOutcome.Completed, trainer.Run(report: reports.Add));
            Assert.Equal(3, reports.Count(r => r.EvalLoss is not null));
            double after = reports[^1].EvalLoss!.Value;
            Assert.True(after < 0.5 * before, $"eval loss {before:F3} -> {after:F3}");
            Assert.Equal(Math.Exp(after), reports[^1].EvalPerplexity!.Value, 12);
        }
        Assert.Equal(0.0, reports[0].LearningRate);                                       // warm-up starts at 0, as transformers
        Assert.All(reports, r => Assert.Equal(5 * 8, r.Tokens));                           // 8 sequences × 5 learned tokens (prompt masked)
        eval.Dispose();
    }

    [Fact]
    public void A_non_finite_loss_stops_before_the_step_changes_anything()
    {
        using var model = Model(10);
        string output = Path.Combine(_folder.FullName, "nan");
        int calls = 0;
        Tensor Logits(Tensor ids)
        {
            var logits = model.forward(ids);
            return ++calls > 6 ? logits * double.NaN : logits;                              // step 4 (2 batches per step) goes bad
        }
        using var trainer = new Trainer(model, Logits, new ShuffledBatches(Counting(16, 5), 4, 11), Options(10, output));
        Assert.Equal(TrainingOutcome.NonFiniteLoss, trainer.Run());
        Assert.Equal(3, trainer.Step);
        var saved = Path.Combine(output, "checkpoint-3", "trainable.safetensors");
        using var file = LoraGen.Checkpoints.SafetensorsFile.Open(saved);
        foreach (var (name, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
        {
            using var stored = file.Read(name);
            TensorAssert.BitwiseEqual(stored, parameter);                                  // unchanged since the last good step
        }
    }

    [Fact]
    public void The_reported_gradient_norm_is_the_global_norm_before_clipping()
    {
        using var model = Model(12);
        using var trainer = new Trainer(model, model.forward, new ShuffledBatches(Counting(8, 6), 8, 13),
            new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Constant, 1e-9, 0, 1)) { ClipNorm = 1e-6 });
        var trainable = model.parameters().Where(p => p.requires_grad).ToArray();

        // The same batch, by hand: the first batch of the same order.
        using (var batch = new ShuffledBatches(Counting(8, 6), 8, 13).Next())
        {
            manual_seed(14);
            using var loss = CausalLmLoss.Compute(model.forward(batch.Ids), batch.Labels);
            loss.backward();
        }
        double expected = Math.Sqrt(trainable.Sum(p => p.grad!.pow(2).sum().item<float>()));
        foreach (var p in trainable) p.grad = null;
        manual_seed(14);
        StepReport? report = null;
        trainer.Run(report: r => report = r);
        Assert.Equal(expected, report!.GradientNorm, 4);
    }

    [Fact]
    public void Weight_decay_shrinks_matrices_and_leaves_vectors_alone()
    {
        var matrix = new TorchSharp.Modules.Parameter(ones(3, 4));
        var vector = new TorchSharp.Modules.Parameter(ones(4));
        using var optimizer = AdamWGroups.Create([matrix, vector], learningRate: 0.1, weightDecay: 0.5);
        matrix.grad = zeros(3, 4);
        vector.grad = zeros(4);
        optimizer.step();
        using var shrunk = full(3, 4, 1 - 0.1 * 0.5);                                      // decoupled decay: p · (1 − lr·wd)
        TensorAssert.Close(shrunk, matrix, 1e-7);
        TensorAssert.BitwiseEqual(ones(4), vector);
    }

    [Fact]
    public void The_loss_is_the_cross_entropy_of_the_learned_next_tokens_only()
    {
        manual_seed(15);
        using var logits = randn(2, 4, 5);
        using var labels = tensor(new long[] { 1, 2, -100, 4, /**/ 0, -100, -100, 3 }, [2, 4]);
        using var loss = CausalLmLoss.Compute(logits, labels);
        using var logProbabilities = logits.log_softmax(-1);
        // Position t predicts label t + 1; learned: (0 → 2), (2 → 4), (2 → 3 in the second row).
        double expected = -(logProbabilities[0, 0, 2].item<float>() + logProbabilities[0, 2, 4].item<float>() + logProbabilities[1, 2, 3].item<float>()) / 3;
        Assert.Equal(expected, loss.item<float>(), 5);
    }

    [Fact]
    public void A_batch_with_nothing_to_learn_has_loss_zero_not_NaN()
    {
        using var logits = randn(1, 4, 5);
        using var labels = full(1, 4, TokenBatch.Ignored);                                  // a packed window of prompt only
        using var loss = CausalLmLoss.Compute(logits, labels);
        Assert.Equal(0f, loss.item<float>());
    }

    [Fact]
    public void Accumulated_batches_give_the_step_of_one_large_batch_as_transformers_divides_by_all_their_tokens()
    {
        // Uneven learned counts per sequence: averaging each small batch's mean would weigh them wrongly.
        var random = new Random(16);
        var examples = Enumerable.Range(0, 4).Select(i => new TrainingExample(
            Enumerable.Range(0, 8).Select(_ => (long)random.Next(20)).ToArray(), Enumerable.Range(0, 8).Select(t => t >= 1 + 2 * i).ToArray())).ToList();
        (Dictionary<string, Tensor> Weights, StepReport Report) Step(int batch, int accumulation)
        {
            manual_seed(17);
            var model = new LlamaForCausalLM(Config);
            model.ApplyLora(new PeftLoraConfig { R = 4, LoraAlpha = 8, TargetModules = ModuleSelector.AllLinear });
            foreach (var layer in ModelAdapters.Layers(model)) Layers.LayerFactory.Randomize(layer, seed: 18);
            StepReport? report = null;
            using (var trainer = new Trainer(model, model.forward, new ShuffledBatches(examples, batch, 19),
                       new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Constant, 1e-2, 0, 1)) { GradientAccumulation = accumulation, ClipNorm = null }))
                trainer.Run(report: r => report = r);
            return (model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.detach().clone()), report!);
        }
        var large = Step(4, 1);
        var accumulated = Step(2, 2);
        // The loss and the gradient's norm weigh every learned token alike in both (a mean of the two halves' means would not).
        Assert.Equal(large.Report.Loss, accumulated.Report.Loss, 5);
        Assert.Equal(large.Report.GradientNorm, accumulated.Report.GradientNorm, 5);
        Assert.Equal(large.Report.Tokens, accumulated.Report.Tokens);
        foreach (var (name, weight) in large.Weights) TensorAssert.Close(weight, accumulated.Weights[name], 1e-6);
    }
}
