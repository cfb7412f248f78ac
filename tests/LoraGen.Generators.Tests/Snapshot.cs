using System.Runtime.CompilerServices;

namespace LoraGen.Generators.Tests;

/// <summary>
/// Snapshot files beside the tests: <c>Snapshots/{name}.verified.cs</c> holds the accepted output. On a
/// mismatch (or a missing snapshot) the actual output is written to <c>{name}.received.cs</c> and the test
/// fails; review it and rename it to accept.
/// </summary>
internal static class Snapshot
{
    public static void Verify(string actual, string name, [CallerFilePath] string callerFile = "")
    {
        var folder = Path.Combine(Path.GetDirectoryName(callerFile)!, "Snapshots");
        var verified = Path.Combine(folder, name + ".verified.cs");
        var received = Path.Combine(folder, name + ".received.cs");
        actual = actual.ReplaceLineEndings("\n");
        if (File.Exists(verified) && File.ReadAllText(verified).ReplaceLineEndings("\n") == actual)
        {
            File.Delete(received);
            return;
        }
        Directory.CreateDirectory(folder);
        File.WriteAllText(received, actual);
        Assert.Fail(File.Exists(verified)
            ? $"Generated code differs from {verified}; see {received}."
            : $"No snapshot {verified} yet; review {received} and rename it to accept.");
    }
}
