using LoraGen.Cli;
using LoraGen.Cli.Serve;

namespace LoraGen.Tests.Serve;

/// <summary>Without --model, serve takes the base results.json names and the adapters under adapters/.</summary>
public class DemoModelsTests() : TemporaryFolder("loragen-serve-demo-")
{
    [Fact]
    public void The_demo_report_gives_its_base_folder_and_its_adapters_by_folder_name()
    {
        string report = Path.Combine(Folder.FullName, "loragen-demo"), baseFolder = Directory.CreateDirectory(Path.Combine(Folder.FullName, "base")).FullName;
        foreach (var skill in new[] { "twice-lora-r8", "pal-lora-r8" })
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(report, "adapters", skill)).FullName, "adapter_config.json"), "{}");
        File.WriteAllText(Path.Combine(report, "results.json"), $$$"""{"device": "cpu", "base": {"folder": {{{System.Text.Json.JsonSerializer.Serialize(baseFolder)}}}, "restored": true}}""");

        var options = DemoModels.Find(report, new ServeOptions { Adapters = [new("pal-lora-r8", baseFolder)] });
        Assert.Equal(baseFolder, options.Model);
        Assert.Equal(["twice-lora-r8", "pal-lora-r8"], options.Adapters.Select(a => a.Key));   // a name given on the command line wins
        Assert.Equal(baseFolder, options.Adapters[1].Value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("{not json")]
    [InlineData("""{"base": {"folder": "/no/such/base"}}""")]
    public void Without_a_usable_demo_report_serve_says_how_to_get_one(string? results)
    {
        if (results is not null) File.WriteAllText(Path.Combine(Folder.FullName, "results.json"), results);
        var error = Assert.Throws<UsageException>(() => DemoModels.Find(Folder.FullName, new ServeOptions()));
        Assert.Contains("run `loragen demo` first, or pass --model DIR", error.Message);
    }
}
