using System.Diagnostics;
using LoraGen.Cli.Train;
using LoraGen.Devices;
using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Loading;
using LoraGen.Planning;
using LoraGen.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>Fine-tunes a fresh copy of the base with one method on one skill, and measures it.</summary>
internal static class FineTuning
{
    /// <returns>The fine-tuned model (the caller disposes it) and its figures.</returns>
    public static (nn.Module<Tensor, Tensor> Model, FineTuneResult Result) Run(
        string baseFolder, FineTuneMethod method, SkillData data, TokenEncoder encoder, DemoScale scale, int seed, Device device)
    {
        HostMemory.ResetPeak();
        manual_seed(seed);                                                   // the same adapter initialisation for every method
        var model = HfModels.Load(baseFolder);
        try
        {
            model.to(device);
            TrainCommand.Adapt(model, method.Method, method.Adapter);
            var parameters = ParameterSummary.Of(model);
            int steps = scale.FineTuneSteps;
            var options = new TrainingOptions(LearningRateSchedule.Create(ScheduleKind.Cosine, scale.LearningRateOf(method), steps / 10, steps));
            var eval = TrainCommand.Batches(data.HeldOut, DemoScale.Batch);
            try
            {
                using var trainer = new Trainer(model, ids => ((ICausalLanguageModel)model).Forward(ids.to(device), null),
                    new ShuffledBatches(data.Train, DemoScale.Batch, seed), options, eval);
                var clock = Stopwatch.StartNew();
                trainer.Run();
                double msPerStep = clock.Elapsed.TotalMilliseconds / steps;          // evaluation at the last step included
                double accuracy = ExactMatch.Accuracy(model, encoder, data.Skill, data.HeldOutWords);
                var result = new FineTuneResult(method.Label, method.Method, method.Rank, parameters.Trainable, parameters.All, parameters.ToString(),
                    parameters.Trainable * sizeof(float) * 3, WeightBytes(model), HostMemory.StatusBytes("VmHWM"), msPerStep,
                    trainer.History[^1].EvalLoss!.Value, accuracy, trainer.History);
                return (model, result);
            }
            finally
            {
                foreach (var batch in eval) batch.Dispose();
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Bytes of every parameter and buffer in the dtype it is held in.</summary>
    public static long WeightBytes(nn.Module model) =>
        model.parameters().Select(p => p.numel() * p.ElementSize).Sum() + model.buffers().Select(b => b.numel() * b.ElementSize).Sum();
}
