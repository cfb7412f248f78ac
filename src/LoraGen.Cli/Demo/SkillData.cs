using LoraGen.Models.Data;
using LoraGen.Training;

namespace LoraGen.Cli.Demo;

/// <summary>A skill's training and held-out data, tokenized once and shared by every method.</summary>
internal sealed record SkillData(Skill Skill, IReadOnlyList<TrainingExample> Train, IReadOnlyList<TrainingExample> HeldOut, IReadOnlyList<string> HeldOutWords)
{
    public static SkillData Create(Skill skill, TokenEncoder encoder, IReadOnlyList<string> train, IReadOnlyList<string> heldOut) => new(skill,
        SequenceLayout.Pad(TaskLanguage.Records([skill], train).Select(encoder.Encode).ToList(), TaskLanguage.SequenceLength, encoder.Eos!.Value),
        SequenceLayout.Pad(TaskLanguage.Records([skill], heldOut).Select(encoder.Encode).ToList(), TaskLanguage.SequenceLength, encoder.Eos!.Value),
        heldOut);
}
