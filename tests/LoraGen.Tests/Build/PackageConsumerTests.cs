using System.Diagnostics;

namespace LoraGen.Tests.Build;

/// <summary>
/// Packs src/LoraGen and builds a fresh project that references the package: the [LoraTarget] generator
/// (analyzers/dotnet/cs) and the TorchSharp native fix (buildTransitive) must both travel in it.
/// </summary>
public class PackageConsumerTests
{
    [Fact]
    public void A_project_referencing_the_package_runs_tensor_code()
    {
        var root = RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("loragen-consumer-");
        try
        {
            // A version of its own, so the global NuGet cache never serves an older pack of this test.
            var version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
            var feed = Path.Combine(work.FullName, "feed");
            Run("dotnet", $"pack \"{Path.Combine(root, "src", "LoraGen")}\" -c Release -o \"{feed}\" -p:Version={version}", root);

            var app = Path.Combine(work.FullName, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup>
                  <ItemGroup><PackageReference Include="LoraGen" Version="{version}" /></ItemGroup>
                </Project>
                """);
            // The DSL needs the generator from the package's analyzers/dotnet/cs; tensors need the native fix.
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using LoraGen;
                using static TorchSharp.torch;
                var net = new Net();
                net.ApplyLora();
                Console.WriteLine(LoraGen.Planning.ParameterSummary.Of(net));
                Console.WriteLine(Net.LoraPlan[0]);

                [LoraTarget(r: 2, alpha: 4, Modules = ["fc"])]
                partial class Net : nn.Module<Tensor, Tensor>
                {
                    private nn.Module<Tensor, Tensor> fc = nn.Linear(8, 8, hasBias: false);
                    public Net() : base("net") => RegisterComponents();
                    public override Tensor forward(Tensor x) => fc.forward(x);
                }
                """);
            // The local feed first; the machine's usual sources for TorchSharp and the SDK's packages.
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <configuration><packageSources><add key="loragen-test" value="{feed}" /></packageSources></configuration>
                """);
            var output = Run("dotnet", "run -c Release", app);
            Assert.Contains("trainable params: 32 || all params: 96 || trainable%: 33.3333", output);
            Assert.Contains("LoraPlanEntry { Path = fc, R = 2, Alpha = 4, Scaling = 2, UseDora = False, InFeatures = 8, OutFeatures = 8, TrainableParameters = 32 }", output);
        }
        finally
        {
            work.Delete(recursive: true);
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
