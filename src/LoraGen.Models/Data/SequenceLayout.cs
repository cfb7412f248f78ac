using LoraGen.Training;

namespace LoraGen.Models.Data;

/// <summary>Records to training sequences of one length: packed end to end, or one per sequence and padded.</summary>
public static class SequenceLayout
{
    /// <summary>
    /// Every record's tokens one after another (each already ends in EOS when the tokenizer has one), cut into
    /// sequences of <paramref name="length"/>; the last incomplete one is dropped.
    /// </summary>
    public static List<TrainingExample> Pack(IReadOnlyList<EncodedRecord> records, int length)
    {
        var ids = records.SelectMany(r => r.Ids).ToArray();
        var learned = records.SelectMany(r => r.Learned).ToArray();
        if (ids.Length < length)
            throw new DataException($"{records[0].Source.File}: {ids.Length} tokens in all, fewer than one sequence of {length}");
        return Enumerable.Range(0, ids.Length / length)
            .Select(i => new TrainingExample(ids[(i * length)..((i + 1) * length)], learned[(i * length)..((i + 1) * length)])).ToList();
    }

    /// <summary>One record per sequence, padded with <paramref name="padId"/> (never learned); a longer record is an error naming its line.</summary>
    public static List<TrainingExample> Pad(IReadOnlyList<EncodedRecord> records, int length, long padId)
    {
        var examples = new List<TrainingExample>(records.Count);
        foreach (var record in records)
        {
            if (record.Ids.Length > length)
                throw DataException.At(record.Source.File, record.Source.Line, $"{record.Ids.Length} tokens, more than the sequence length {length} (raise --seq or use packing)");
            if (!record.Learned.Skip(1).Any(l => l))
                throw DataException.At(record.Source.File, record.Source.Line, "no token to learn after the first");
            var ids = record.Ids.Concat(Enumerable.Repeat(padId, length - record.Ids.Length)).ToArray();
            var learned = record.Learned.Concat(Enumerable.Repeat(false, length - record.Ids.Length)).ToArray();
            examples.Add(new TrainingExample(ids, learned));
        }
        return examples;
    }
}
