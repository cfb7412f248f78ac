using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;

namespace LoraGen.Tests.Build;

/// <summary>
/// Packs src/LoraGen, src/LoraGen.Models and the loragen tool once and builds fresh projects that reference the
/// packages from a local feed, as an application does: it picks TorchSharp's native backend itself; the
/// [LoraTarget] generator (analyzers/dotnet/cs) and the TorchSharp native fix (buildTransitive) must reach it
/// through either package. The tool is installed with `dotnet tool install` and runs the main job.
/// </summary>
public class PackageConsumerTests(PackedFeed packed) : IClassFixture<PackedFeed>
{
    /// <summary>A model of the consumer's own: compiles only if the generator came with the packages.</summary>
    private const string ConsumerModel = """
        [LoraTarget(r: 2, alpha: 4, Modules = ["fc"])]
        partial class Net : nn.Module<Tensor, Tensor>
        {
            private nn.Module<Tensor, Tensor> fc = nn.Linear(8, 8, hasBias: false);
            public Net() : base("net") => RegisterComponents();
            public override Tensor forward(Tensor x) => fc.forward(x);
        }
        """;

    private const string ConsumerPlanLine =
        "LoraPlanEntry { Path = fc, R = 2, Alpha = 4, Scaling = 2, UseDora = False, InFeatures = 8, OutFeatures = 8, TrainableParameters = 32 }";

    [Fact]
    public void The_packages_leave_the_native_backend_to_the_application_and_ship_at_one_version()
    {
        var runtime = Dependencies(packed.Package("LoraGen"));
        Assert.Equal(new[] { "TorchSharp" }, runtime.Keys.Where(id => id.StartsWith("TorchSharp", StringComparison.Ordinal)));

        var models = Dependencies(packed.Package("LoraGen.Models"));
        Assert.Equal($"[{packed.Version}]", models["LoraGen"].Version);         // exactly the runtime it was compiled against
        Assert.Null(models["LoraGen"].Exclude);                                 // analyzers (the generator) flow on to its users
        Assert.DoesNotContain(models.Keys, id => id.StartsWith("TorchSharp-", StringComparison.Ordinal));
    }

    [Fact]
    public void A_project_referencing_LoraGen_and_the_CPU_backend_runs_its_own_LoRA_model()
    {
        var output = packed.RunConsumer(["LoraGen", "TorchSharp-cpu"], $$"""
            using LoraGen;
            using static TorchSharp.torch;
            var net = new Net();
            net.ApplyLora();
            Console.WriteLine(LoraGen.Planning.ParameterSummary.Of(net));
            Console.WriteLine(Net.LoraPlan[0]);

            {{ConsumerModel}}
            """);
        Assert.Contains("trainable params: 32 || all params: 96 || trainable%: 33.3333", output);
        Assert.Contains(ConsumerPlanLine, output);
    }

    [Fact]
    public void A_project_referencing_only_LoraGen_Models_and_the_CPU_backend_loads_an_HF_checkpoint_and_generates()
    {
        // The checkpoint is written with transformers' key names and shapes, not from our model's parameters.
        // Its weights make greedy decoding count upwards: token i embeds as the one-hot row e_i, lm_head's row
        // j is e_(j-1), and o_proj and down_proj are zero, so attention (with its KV cache) and the MLP run but
        // add nothing. A swapped or transposed tensor, or a cache that mixes steps, gives other tokens.
        var output = packed.RunConsumer(["LoraGen.Models", "TorchSharp-cpu"], $$"""
            using LoraGen;
            using LoraGen.Checkpoints;
            using LoraGen.Models.Attention;
            using LoraGen.Models.Generation;
            using LoraGen.Models.Loading;
            using static TorchSharp.torch;

            const int vocab = 20, hidden = 32, intermediate = 48, heads = 4, kvHeads = 2, headDim = hidden / heads;
            Tensor OneHotRows(Func<int, int> column)
            {
                var values = new float[vocab * hidden];
                for (int row = 0; row < vocab; row++) values[row * hidden + column(row)] = 1;
                return tensor(values, [vocab, hidden]);
            }
            manual_seed(0);
            var tensors = new List<(string, Tensor)>
            {
                ("model.embed_tokens.weight", OneHotRows(i => i)),
                ("lm_head.weight", OneHotRows(j => (j + vocab - 1) % vocab)),
                ("model.norm.weight", ones(hidden)),
            };
            for (int layer = 0; layer < 2; layer++)
            {
                string p = $"model.layers.{layer}.";
                tensors.Add((p + "input_layernorm.weight", ones(hidden)));
                tensors.Add((p + "post_attention_layernorm.weight", ones(hidden)));
                tensors.Add((p + "self_attn.q_proj.weight", randn(heads * headDim, hidden)));
                tensors.Add((p + "self_attn.k_proj.weight", randn(kvHeads * headDim, hidden)));
                tensors.Add((p + "self_attn.v_proj.weight", randn(kvHeads * headDim, hidden)));
                tensors.Add((p + "self_attn.o_proj.weight", zeros(hidden, heads * headDim)));
                tensors.Add((p + "mlp.gate_proj.weight", randn(intermediate, hidden)));
                tensors.Add((p + "mlp.up_proj.weight", randn(intermediate, hidden)));
                tensors.Add((p + "mlp.down_proj.weight", zeros(hidden, intermediate)));
            }
            var folder = Directory.CreateTempSubdirectory("tiny-llama-").FullName;
            SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), tensors);
            File.WriteAllText(Path.Combine(folder, "config.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model_type"] = "llama", ["hidden_size"] = hidden, ["intermediate_size"] = intermediate, ["num_hidden_layers"] = 2,
                ["num_attention_heads"] = heads, ["num_key_value_heads"] = kvHeads, ["vocab_size"] = vocab, ["tie_word_embeddings"] = false,
            }));

            using (var model = HfModels.Load(folder))
            {
                var generated = TextGeneration.Generate((ICausalLanguageModel)model, [3, 7], new GenerationOptions(MaxNewTokens: 5));
                Console.WriteLine($"generated: {string.Join(' ', generated)}");
            }
            Directory.Delete(folder, recursive: true);

            var net = new Net();
            net.ApplyLora();
            Console.WriteLine(Net.LoraPlan[0]);

            {{ConsumerModel}}
            """);
        Assert.Contains("generated: 8 9 10 11 12", output);
        Assert.Contains(ConsumerPlanLine, output);
    }

    /// <summary>The nuspec's dependencies: id → (version range, exclude flags).</summary>
    [Fact]
    public void The_loragen_tool_installs_from_its_package_and_runs_the_main_job()
    {
        string loragen = packed.InstallTool();
        string output = PackedFeed.RunCommand(loragen, "demo --quick --out demo-report", Path.GetDirectoryName(loragen)!);   // tensors: the native fix travelled with the tool
        Assert.Contains("trainable params: ", output);
        Assert.Contains("demo: OK", output);
        Assert.Contains("trainable params: 294,912", PackedFeed.RunCommand(loragen, "plan --preset gpt2 --rank 8 --targets c_attn", Path.GetDirectoryName(loragen)!));
    }

    private static Dictionary<string, (string Version, string? Exclude)> Dependencies(string nupkg)
    {
        using var archive = ZipFile.OpenRead(nupkg);
        var nuspec = archive.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspec.Open();
        return XDocument.Load(stream).Descendants().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => (string)e.Attribute("id")!, e => ((string)e.Attribute("version")!, (string?)e.Attribute("exclude")));
    }
}

/// <summary>LoraGen and LoraGen.Models packed once, at a version of their own, into a local feed.</summary>
public sealed class PackedFeed : IDisposable
{
    private static readonly string[] Packages = ["LoraGen", "LoraGen.Models", "LoraGen.Cli"];
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("loragen-consumer-");
    private int _consumers;

    // A version of its own, so the global NuGet cache never serves an older pack of this test.
    public string Version { get; } = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    private readonly XDocument _centralVersions;

    private string Feed => Path.Combine(_work.FullName, "feed");

    public PackedFeed()
    {
        var root = RepositoryRoot();
        _centralVersions = XDocument.Load(Path.Combine(root, "Directory.Packages.props"));
        foreach (var package in Packages)
            Run("dotnet", $"pack \"{Path.Combine(root, "src", package)}\" -c Release -o \"{Feed}\" -p:Version={Version}", root);
    }

    public string Package(string id) => Path.Combine(Feed, $"{id}.{Version}.nupkg");

    /// <summary>Writes a fresh console project with these package references and program, runs it, returns its output.</summary>
    public string RunConsumer(string[] packageReferences, string program)
    {
        var app = Path.Combine(_work.FullName, $"app{Interlocked.Increment(ref _consumers)}");
        Directory.CreateDirectory(app);
        var references = string.Concat(packageReferences.Select(id =>
            $"""<PackageReference Include="{id}" Version="{(Packages.Contains(id) ? Version : CentralVersion(id))}" />"""));
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup>
              <ItemGroup>{references}</ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), program);
        // The local feed first; the machine's usual sources for TorchSharp and the SDK's packages.
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <configuration><packageSources><add key="loragen-test" value="{Feed}" /></packageSources></configuration>
            """);
        return Run("dotnet", "run -c Release", app);
    }

    /// <summary>`dotnet tool install` of the packed LoraGen.Cli into a folder of its own; returns the `loragen` command's path.</summary>
    public string InstallTool()
    {
        string tools = Path.Combine(_work.FullName, "tools");
        Run("dotnet", $"tool install --tool-path \"{tools}\" --add-source \"{Feed}\" LoraGen.Cli --version {Version}", _work.FullName);
        return Path.Combine(tools, "loragen");
    }

    /// <summary>Runs a command and returns its output; fails the test on a non-zero exit.</summary>
    public static string RunCommand(string file, string arguments, string directory) => Run(file, arguments, directory);

    /// <summary>The repo's own version of a package (the backend bundle matching the TorchSharp the packages reference).</summary>
    private string CentralVersion(string id) =>
        (string)_centralVersions.Descendants("PackageVersion").Single(e => (string?)e.Attribute("Include") == id).Attribute("Version")!;

    public void Dispose()
    {
        _work.Delete(recursive: true);
        // Restores extracted this run's packages into the global cache; nothing will ask for this version again.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var package in Packages)
        {
            var extracted = new DirectoryInfo(Path.Combine(cache, package.ToLowerInvariant(), Version));
            if (extracted.Exists) extracted.Delete(recursive: true);
        }
    }

    private static string Run(string file, string arguments, string directory)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"`{file} {arguments}` exited {process.ExitCode}:\n{stdout}\n{stderr.Result}");
        return stdout;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LoraGen.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("LoraGen.sln not found above the test folder");
    }
}
