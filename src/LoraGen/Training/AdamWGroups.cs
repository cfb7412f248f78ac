using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Training;

/// <summary>AdamW over the trainable parameters, with weight decay on matrices and none on vectors (biases, norms).</summary>
public static class AdamWGroups
{
    public static AdamW Create(IEnumerable<Parameter> trainable, double learningRate, double weightDecay)
    {
        var parameters = trainable.ToArray();
        if (parameters.Length == 0) throw new ArgumentException("nothing to train: no parameter requires a gradient", nameof(trainable));
        var groups = new[]
        {
            new AdamW.ParamGroup(parameters.Where(p => p.dim() >= 2), new AdamW.Options { LearningRate = learningRate, weight_decay = weightDecay }),
            new AdamW.ParamGroup(parameters.Where(p => p.dim() < 2), new AdamW.Options { LearningRate = learningRate, weight_decay = 0 }),
        };
        return optim.AdamW(groups.Where(g => g.Parameters.Any()), learningRate);
    }
}
