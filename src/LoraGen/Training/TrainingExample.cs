namespace LoraGen.Training;

/// <summary>One tokenized training sequence: its ids, and for each whether the model learns to produce it.</summary>
public sealed record TrainingExample(long[] Ids, bool[] Learned)
{
    public int Length => Ids.Length;
}
