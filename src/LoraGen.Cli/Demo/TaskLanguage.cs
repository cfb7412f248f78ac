using LoraGen.Models.Data;

namespace LoraGen.Cli.Demo;

/// <summary>The words the skills apply to, and the training records made of them: all deterministic from a seed.</summary>
internal static class TaskLanguage
{
    public const string Letters = "abcdefghijklmnopqrstuvwxyz";
    public const int MinLength = 3, MaxLength = 6;

    /// <summary>Begin, the longest prompt ("twice:" word ">"), the longest completion, end: every record fits.</summary>
    public static readonly int SequenceLength = 1 + 6 + MaxLength + 1 + Skill.LongestCompletion(MaxLength) + 1;

    /// <summary>Distinct random words; the held-out ones never appear in training.</summary>
    public static (string[] Train, string[] HeldOut) Words(int train, int heldOut, int seed)
    {
        var random = new Random(seed);
        var seen = new HashSet<string>();
        var words = new List<string>(train + heldOut);
        while (words.Count < train + heldOut)
        {
            var word = new string(Enumerable.Range(0, random.Next(MinLength, MaxLength + 1)).Select(_ => Letters[random.Next(Letters.Length)]).ToArray());
            if (seen.Add(word)) words.Add(word);
        }
        return (words.Take(train).ToArray(), words.Skip(train).ToArray());
    }

    /// <summary>A prompt–completion record: only the completion (and the end token after it) is learned.</summary>
    public static TrainingRecord Record(Skill skill, string word, int line) =>
        new($"demo:{skill.Name}", line, [new Segment(skill.Prompt(word), false), new Segment(skill.Apply(word), true)]);

    public static List<TrainingRecord> Records(IEnumerable<Skill> skills, IReadOnlyList<string> words) =>
        skills.SelectMany(skill => words.Select((word, i) => Record(skill, word, i + 1))).ToList();
}
