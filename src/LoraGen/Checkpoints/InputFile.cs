using System.Runtime.InteropServices;
using System.Text;

namespace LoraGen.Checkpoints;

/// <summary>
/// The one way LoraGen reads a file a user names (configs, index files, adapter configs, tokenizer files,
/// safetensors): symbolic links are followed (a loop or a dangling link is an error), the target must be a
/// regular file (a FIFO, a device, a socket or a folder is refused before it is opened, so nothing blocks), and
/// its size must be within a limit suited to its kind. Every error is a <see cref="CheckpointException"/> naming
/// the path the user gave.
/// </summary>
public static partial class InputFile
{
    /// <summary>config.json, adapter_config.json, index files: real ones are kilobytes.</summary>
    public const long JsonLimit = 16L << 20;

    /// <summary>tokenizer.json and friends: real ones are a few MB, the largest vocabularies tens of MB.</summary>
    public const long TokenizerLimit = 512L << 20;

    /// <summary>Checks <paramref name="path"/> and returns its size in bytes.</summary>
    public static long Check(string path, long maxBytes = long.MaxValue)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var (kind, size) = Stat(path);
        if (kind != FileKind.Regular)
            throw CheckpointException.For(path, kind switch
            {
                FileKind.Missing => "no such file",
                FileKind.Directory => "is a folder, not a file",
                FileKind.Fifo => "is a FIFO (named pipe), not a regular file",
                FileKind.Device => "is a device, not a regular file",
                FileKind.Socket => "is a socket, not a regular file",
                FileKind.LinkLoop => "is a symbolic link loop",
                FileKind.DanglingLink => $"is a symbolic link to '{new FileInfo(path).LinkTarget}', which does not exist",
                _ => "cannot be read (permission denied or an unusual file)",
            });
        if (size > maxBytes)
            throw CheckpointException.For(path, $"is {size:N0} bytes; a file of this kind is at most {maxBytes:N0}");
        return size;
    }

    public static byte[] ReadAllBytes(string path, long maxBytes)
    {
        long size = Check(path, maxBytes);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var bytes = new byte[size];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (EndOfStreamException)
        {
            throw CheckpointException.For(path, "shrank while it was being read");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CheckpointException.For(path, $"cannot be read ({e.Message})");
        }
    }

    /// <summary>The file as UTF-8 text.</summary>
    public static string ReadAllText(string path, long maxBytes)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(ReadAllBytes(path, maxBytes)).TrimStart('\uFEFF');
        }
        catch (DecoderFallbackException)
        {
            throw CheckpointException.For(path, "is not valid UTF-8 text");
        }
    }

    /// <summary>Whether a path exists as something other than a regular file (writers must not replace it).</summary>
    public static bool IsSpecial(string path) => Stat(path).Kind is not (FileKind.Regular or FileKind.Missing or FileKind.DanglingLink);

    private enum FileKind { Regular, Missing, Directory, Fifo, Device, Socket, LinkLoop, DanglingLink, Unreadable }

    private static (FileKind Kind, long Size) Stat(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path)) return (FileKind.Directory, 0);
            return info.Exists ? (FileKind.Regular, info.Length) : (FileKind.Missing, 0);
        }
        Span<byte> buffer = stackalloc byte[256];                       // struct statx
        if (statx(AtFdCwd, path, 0, StatxType | StatxSize, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                ELoop => (FileKind.LinkLoop, 0),
                ENoEnt when new FileInfo(path).LinkTarget is not null => (FileKind.DanglingLink, 0),
                ENoEnt or ENotDir => (FileKind.Missing, 0),
                _ => (FileKind.Unreadable, 0),
            };
        }
        ushort mode = BitConverter.ToUInt16(buffer[28..30]);             // stx_mode
        long size = BitConverter.ToInt64(buffer[40..48]);                // stx_size
        return ((mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x1000 => FileKind.Fifo,
            0x2000 or 0x6000 => FileKind.Device,
            0xC000 => FileKind.Socket,
            _ => FileKind.Unreadable,
        }, size);
    }

    private const int AtFdCwd = -100, ENoEnt = 2, ENotDir = 20, ELoop = 40;
    private const uint StatxType = 0x1, StatxSize = 0x200;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int statx(int directory, string path, int flags, uint mask, ref byte buffer);
}
