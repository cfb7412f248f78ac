using System.Text.Json;
using LoraGen.Checkpoints;

namespace LoraGen.Training;

/// <summary>trainer_state.json: the step, the data position, the random generator's state and the reports so far.</summary>
public sealed record TrainerState(int Step, DataPosition Data, byte[] RandomState, IReadOnlyList<StepReport> History)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static void Write(string path, TrainerState state) => AtomicFile.Write(path, stream => JsonSerializer.Serialize(stream, state, Json));

    public static TrainerState Read(string path)
    {
        string text = InputFile.ReadAllText(path, InputFile.JsonLimit);
        try
        {
            var state = JsonSerializer.Deserialize<TrainerState>(text, Json);
            if (state is null || state.Step < 0 || state.Data is null || state.RandomState is not { Length: > 0 } || state.History is null)
                throw CheckpointException.For(path, "is not a trainer state (step, data, random_state and history are required)");
            return state;
        }
        catch (JsonException e)
        {
            throw CheckpointException.For(path, $"is not valid trainer state JSON ({e.Message})");
        }
    }
}
