using System.Diagnostics;

namespace LoraGen.Tests.Build;

/// <summary>
/// Packs src/LoraGen and builds a fresh project that references the package: the TorchSharp native fix
/// must travel in the package (buildTransitive) so that the consumer's first tensor op just works.
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
            File.WriteAllText(Path.Combine(app, "Program.cs"), """
                using LoraGen.Layers;
                using static TorchSharp.torch;
                var layer = new LoraLinear(nn.Linear(8, 8, hasBias: false), new LoraConfig(2, 4), "fc");
                Console.WriteLine(LoraGen.Planning.ParameterSummary.Of(layer));
                """);
            // The local feed first; the machine's usual sources for TorchSharp and the SDK's packages.
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <configuration><packageSources><add key="loragen-test" value="{feed}" /></packageSources></configuration>
                """);
            var output = Run("dotnet", "run -c Release", app);
            Assert.Contains("trainable params: 32 || all params: 96 || trainable%: 33.3333", output);
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
