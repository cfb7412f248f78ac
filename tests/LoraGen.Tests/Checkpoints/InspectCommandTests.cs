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

    [Fact]
    public void An_adapter_folder_shows_its_configuration_beside_the_tensors()
    {
        string directory = Path.Combine(_folder.FullName, "adapter");
        var config = Adapters.PeftFixture.Config(("r", 4), ("lora_alpha", 8), ("use_dora", true), ("modules_to_save", new System.Text.Json.Nodes.JsonArray("lm_head")),
            ("rank_pattern", new System.Text.Json.Nodes.JsonObject { ["v_proj"] = 2 }));
        using var a = zeros(4, 32);
        using var b = zeros(32, 4);
        using var m = ones(32);
        using var head = zeros(50, 32);
        Adapters.PeftFixture.Write(directory, config, [("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", a),
            ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", b), ("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", m),
            ("base_model.model.lm_head.weight", head)]);
        var (exit, output, error) = Run("inspect", directory);
        Assert.True(exit == 0, error);
        Assert.Contains("r = 4, lora_alpha = 8, lora_dropout = 0.05, bias = None", output);
        Assert.Contains("target_modules = [q_proj, v_proj]", output);
        Assert.Contains("rank_pattern = {v_proj: 2}, alpha_pattern = {}", output);
        Assert.Contains("use_dora = True, use_rslora = False", output);
        Assert.Contains("modules_to_save = [lm_head]", output);
        Assert.Contains("4 tensors", output);
    }
}
