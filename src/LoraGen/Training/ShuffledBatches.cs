using static TorchSharp.torch;

namespace LoraGen.Training;

/// <summary>Where a run is in its data: the epoch, and how many examples of that epoch's order it has used.</summary>
public sealed record DataPosition(int Epoch, int Offset);

/// <summary>
/// Batches of equal-length examples in an order shuffled per epoch from the seed alone, so a run resumed at a
/// <see cref="DataPosition"/> sees exactly the batches the uninterrupted run would have. The last incomplete batch of an
/// epoch is dropped (as transformers' drop_last), so every batch has the same shape.
/// </summary>
public sealed class ShuffledBatches
{
    private readonly IReadOnlyList<TrainingExample> _examples;
    private readonly int _batchSize;
    private readonly int _seed;
    private int[] _order;

    public ShuffledBatches(IReadOnlyList<TrainingExample> examples, int batchSize, int seed)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "the batch size must be at least 1");
        if (examples.Count < batchSize) throw new ArgumentException($"{examples.Count} examples do not fill one batch of {batchSize}", nameof(examples));
        if (examples.Select(e => e.Length).Distinct().Count() != 1) throw new ArgumentException("every example must have the same length (pack or pad them first)", nameof(examples));
        _examples = examples;
        _batchSize = batchSize;
        _seed = seed;
        Position = new DataPosition(0, 0);
        _order = Order(0);
    }

    public DataPosition Position { get; private set; }

    public int BatchesPerEpoch => _examples.Count / _batchSize;

    public void Restore(DataPosition position)
    {
        if (position.Epoch < 0 || position.Offset < 0 || position.Offset > _examples.Count)
            throw new ArgumentOutOfRangeException(nameof(position), position, "not a position in this data");
        Position = position;
        _order = Order(position.Epoch);
    }

    /// <summary>The next batch: ids (batch, seq) and labels with the unlearned positions ignored.</summary>
    public TokenBatch Next()
    {
        if (Position.Offset + _batchSize > _examples.Count)
        {
            Position = new DataPosition(Position.Epoch + 1, 0);
            _order = Order(Position.Epoch);
        }
        var chosen = Enumerable.Range(Position.Offset, _batchSize).Select(i => _examples[_order[i]]).ToArray();
        Position = Position with { Offset = Position.Offset + _batchSize };
        return TokenBatch.Of(chosen);
    }

    private int[] Order(int epoch)
    {
        var order = Enumerable.Range(0, _examples.Count).ToArray();
        new Random(unchecked(_seed * 1_000_003 + epoch)).Shuffle(order);         // the same in every process (HashCode is not)
        return order;
    }
}
