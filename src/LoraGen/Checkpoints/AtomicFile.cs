namespace LoraGen.Checkpoints;

/// <summary>
/// Writes a file so that readers see the old content or the new, never half of it: into a temporary file
/// beside the target, flushed to disk, then renamed over it. A failure removes the temporary file.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes <paramref name="path"/> through <paramref name="write"/>. Refuses to replace anything that is not a
    /// regular file (a device such as /dev/full, a FIFO, a folder). A failure (a read-only folder, a full disk)
    /// is a <see cref="CheckpointException"/> naming <paramref name="path"/>, never the temporary file.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        if (InputFile.IsSpecial(path))
            throw CheckpointException.For(path, "exists and is not a regular file; LoraGen replaces only regular files");
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(directory);
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw CheckpointException.For(path, $"cannot be written ({Reason(e)})");
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>What went wrong, without the temporary path the system message may carry.</summary>
    internal static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        IOException io when io.HResult == 28 || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) => "no space left on the device",
        DirectoryNotFoundException => "its folder cannot be created",
        _ => e.Message.Contains(".tmp", StringComparison.Ordinal) ? e.GetType().Name : e.Message,
    };

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing was written there, or the folder is gone: nothing to clean up.
        }
    }
}
