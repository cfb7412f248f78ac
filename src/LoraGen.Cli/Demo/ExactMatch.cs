using LoraGen.Models.Attention;
using LoraGen.Models.Data;
using LoraGen.Models.Generation;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>Exact-match accuracy: the model's greedy completion of each prompt, up to the end token, against the skill's answer.</summary>
internal static class ExactMatch
{
    public static double Accuracy(nn.Module model, TokenEncoder encoder, Skill skill, IReadOnlyList<string> words) =>
        words.Count(word => Complete(model, encoder, skill.Prompt(word)) == skill.Apply(word)) / (double)words.Count;

    /// <summary>The greedy completion of <paramref name="prompt"/> (begin token first, as in training), without the end token.</summary>
    public static string Complete(nn.Module model, TokenEncoder encoder, string prompt)
    {
        bool training = model.training;
        model.eval();
        try
        {
            var ids = new long[] { encoder.Bos!.Value }.Concat(encoder.Tokens(prompt).Select(id => (long)id)).ToArray();
            var produced = TextGeneration.Generate((ICausalLanguageModel)model, ids, new GenerationOptions(MaxNewTokens: Skill.LongestCompletion(TaskLanguage.MaxLength) + 1, EndToken: encoder.Eos));
            return encoder.Decode(produced.Where(id => id != encoder.Eos));
        }
        finally
        {
            model.train(training);
        }
    }
}
