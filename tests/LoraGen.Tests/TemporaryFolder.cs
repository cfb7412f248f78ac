namespace LoraGen.Tests;

/// <summary>A test class's own temporary folder, removed with everything in it when the class's tests are done.</summary>
public abstract class TemporaryFolder(string prefix) : IDisposable
{
    protected DirectoryInfo Folder { get; } = Directory.CreateTempSubdirectory(prefix);

    public void Dispose()
    {
        Folder.Delete(recursive: true);
        GC.SuppressFinalize(this);
    }
}
