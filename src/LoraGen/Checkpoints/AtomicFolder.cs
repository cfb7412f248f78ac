using System.Runtime.InteropServices;

namespace LoraGen.Checkpoints;

/// <summary>
/// Writes a folder of files (an adapter: config and weights) so that readers see the old folder or the new one,
/// whole, never files of two saves: the files go into a temporary sibling folder, which then takes the target's
/// place in one step (Linux <c>renameat2(RENAME_EXCHANGE)</c>; a plain rename when the target is new). Whatever
/// else the target held (a README, a tokenizer, other adapters' subfolders) is carried into the new folder by
/// hard links (copies where links cannot be made). The temporary folders of a save that was killed are removed by
/// the next save to the same target; two saves to one folder at the same time are not supported. Without an
/// atomic exchange (not Linux), the old folder steps aside for a moment before the new one takes its name.
/// </summary>
public static partial class AtomicFolder
{
    private const string Marker = ".loragen-";

    /// <param name="directory">The folder to create or replace.</param>
    /// <param name="writeInto">Writes the files into the folder it is given.</param>
    /// <param name="keepOtherFiles">
    /// Carry what else the old folder held into the new one (an adapter folder's README or tokenizer); false replaces
    /// the folder whole (a model folder: an old model.safetensors beside new shards would win when loaded).
    /// </param>
    public static void Write(string directory, Action<string> writeInto, bool keepOtherFiles = true)
    {
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        var parent = Path.GetDirectoryName(target) ?? throw CheckpointException.For(directory, "cannot replace a root folder");
        var name = Path.GetFileName(target);
        if (File.Exists(target) || InputFile.IsSpecial(target) && !Directory.Exists(target))
            throw CheckpointException.For(directory, "exists and is not a folder");
        var staging = Path.Combine(parent, $".{name}{Marker}{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(parent);
            RemoveLeftovers(parent, name);
            Directory.CreateDirectory(staging);
            writeInto(staging);
            if (keepOtherFiles && Directory.Exists(target)) CarryOver(target, staging);
            if (!Directory.Exists(target))
                Directory.Move(staging, target);
            else if (Exchange(staging, target))
                Directory.Delete(staging, recursive: true);          // it holds the previous save now
            else
                ReplaceInTwoSteps(staging, target, parent, name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(staging);
            throw CheckpointException.For(directory, $"cannot be written ({AtomicFile.Reason(e)})");
        }
        catch (CheckpointException e) when (e.Message.Contains(staging, StringComparison.Ordinal))
        {
            // A file written inside the staging folder failed: name it where the user asked for it.
            TryDelete(staging);
            throw new CheckpointException(e.Message.Replace(staging, target, StringComparison.Ordinal));
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next save to remove.
        }
    }

    /// <summary>Folders that earlier saves to <paramref name="name"/> left behind when they were killed.</summary>
    public static IEnumerable<string> Leftovers(string parent, string name) =>
        Directory.Exists(parent) ? Directory.EnumerateDirectories(parent, $".{name}{Marker}*") : [];

    private static void RemoveLeftovers(string parent, string name)
    {
        foreach (var leftover in Leftovers(parent, name).ToArray())
            Directory.Delete(leftover, recursive: true);
    }

    /// <summary>
    /// Links every entry of <paramref name="from"/> that the new save did not write into <paramref name="to"/>:
    /// files by hard link (a copy where that fails), symbolic links as the same links, folders recursively.
    /// </summary>
    private static void CarryOver(string from, string to)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(from))
        {
            var destination = Path.Combine(to, Path.GetFileName(entry));
            if (File.Exists(destination) || Directory.Exists(destination)) continue;
            var info = new FileInfo(entry);
            if (info.LinkTarget is { } linkTarget) File.CreateSymbolicLink(destination, linkTarget);
            else if (info.Attributes.HasFlag(FileAttributes.Directory))
            {
                Directory.CreateDirectory(destination);
                CarryOver(entry, destination);
            }
            else if (!OperatingSystem.IsLinux() || link(entry, destination) != 0) File.Copy(entry, destination);
        }
    }

    /// <summary>Swaps two folders atomically where the system can (Linux); false elsewhere.</summary>
    private static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return renameat2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Without an atomic exchange: the old folder steps aside, the new one takes its name, the old one goes.</summary>
    private static void ReplaceInTwoSteps(string staging, string target, string parent, string name)
    {
        var old = Path.Combine(parent, $".{name}{Marker}{Guid.NewGuid():N}.old");
        Directory.Move(target, old);
        try
        {
            Directory.Move(staging, target);
        }
        catch
        {
            Directory.Move(old, target);                    // the previous save stays where it was
            throw;
        }
        Directory.Delete(old, recursive: true);
    }

    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int renameat2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);
}
