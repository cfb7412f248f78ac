using LoraGen.Checkpoints;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

[Collection(nameof(ConsoleOutput))]
public sealed class InspectCommandTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("loragen-inspect-");

    public void Dispose() => _folder.Delete(recursive: true);

    private static (int Exit, string Out, string Error) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Lists_the_tensors_of_a_file()
    {
        string path = Path.Combine(_folder.FullName, "model.safetensors");
        using var weight = zeros(3, 4, dtype: ScalarType.BFloat16);
        SafetensorsWriter.Write(path, [("lm_head.weight", weight)]);
        var (exit, output, _) = Run("inspect", path);
        Assert.Equal(0, exit);
        Assert.Contains("1 tensors, 24 bytes in 1 file(s)", output);
        var folderRun = Run("inspect", _folder.FullName);
        Assert.Equal(0, folderRun.Exit);
        Assert.Contains("1 tensors, 24 bytes", folderRun.Out);
    }

    [Fact]
    public void A_bad_file_exits_2_naming_the_file_and_tensor()
    {
        string path = Path.Combine(_folder.FullName, "bad.safetensors");
        File.WriteAllBytes(path, SafetensorsTests.Craft("""{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""", new byte[8]));
        var (exit, _, error) = Run("inspect", path);
        Assert.Equal(2, exit);
        Assert.Contains($"loragen inspect: {path}: tensor 'w': shape [3] x F32 is 12 bytes but data_offsets span 8", error);
    }
}
