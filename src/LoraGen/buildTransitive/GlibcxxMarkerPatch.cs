// Compiled by MSBuild's RoslynCodeTaskFactory from LoraGen.targets (and by the tests, with
// LORAGEN_NO_MSBUILD defined). Keep it to one self-contained file: the task factory takes one source.
//
// Why: libLibTorchSharp.so (TorchSharp 0.107) was linked with GCC 13 and so asks libstdc++ for the
// symbol version GLIBCXX_3.4.32, for exactly one symbol, std::ios_base_library_init(): an empty
// marker that GCC 13 emits for every file including <iostream> and that nothing calls. Older
// libstdc++ (GCC 12: Debian 12, Ubuntu 22.04) lacks that version, so the dynamic loader refuses the
// library. Marking the requirement weak (VER_FLG_WEAK) turns the loader's error into a warning.
// We only weaken a requirement the system cannot satisfy AND whose every symbol is such a marker;
// anything else stays a hard requirement, so a real ABI gap still fails loudly.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

public static class GlibcxxMarkerPatch
{
    /// <summary>Symbols known to be link-time markers with no behaviour; safe to leave unresolved.</summary>
    public static readonly HashSet<string> MarkerSymbols = new HashSet<string> { "_ZSt21ios_base_library_initv" };

    const uint ShtDynsym = 11, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    const ushort VerFlagWeak = 0x2;

    /// <summary>
    /// Marks weak every libstdc++ version requirement of <paramref name="elf"/> that
    /// <paramref name="systemProvides"/> rejects and that only marker symbols use. Edits the array in
    /// place and returns what it did, one line per requirement it looked at; empty for non-ELF input.
    /// </summary>
    public static List<string> WeakenMissingMarkerVersions(byte[] elf, Func<string, bool> systemProvides)
    {
        var report = new List<string>();
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F'
            || elf[4] != 2 /* 64-bit */ || elf[5] != 1 /* little endian */)
            return report;

        ulong shoff = U64(elf, 0x28);
        int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
        int verneed = -1, versym = -1, dynsym = -1;
        for (int i = 0; i < shnum; i++)
        {
            uint type = U32(elf, (int)shoff + i * shentsize + 4);
            if (type == ShtGnuVerneed) verneed = i;
            else if (type == ShtGnuVersym) versym = i;
            else if (type == ShtDynsym) dynsym = i;
        }
        if (verneed < 0 || versym < 0 || dynsym < 0) return report;

        int Section(int index, int field) => (int)shoff + index * shentsize + field;
        int needOffset = (int)U64(elf, Section(verneed, 0x18));
        int needCount = (int)U32(elf, Section(verneed, 0x2C));                  // sh_info: number of entries
        int needStrings = (int)U64(elf, Section((int)U32(elf, Section(verneed, 0x28)), 0x18));
        int symOffset = (int)U64(elf, Section(dynsym, 0x18));
        int symCount = (int)(U64(elf, Section(dynsym, 0x20)) / 24);
        int symStrings = (int)U64(elf, Section((int)U32(elf, Section(dynsym, 0x28)), 0x18));
        int versymOffset = (int)U64(elf, Section(versym, 0x18));

        int need = needOffset;
        for (int n = 0; n < needCount; n++)
        {
            // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
            int auxCount = U16(elf, need + 2);
            string file = CString(elf, needStrings + (int)U32(elf, need + 4));
            int aux = need + (int)U32(elf, need + 8);
            for (int a = 0; a < auxCount; a++)
            {
                // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
                ushort flags = U16(elf, aux + 4);
                int versionIndex = U16(elf, aux + 6);
                string version = CString(elf, needStrings + (int)U32(elf, aux + 8));
                if (file.StartsWith("libstdc++", StringComparison.Ordinal) && (flags & VerFlagWeak) == 0 && !systemProvides(version))
                {
                    var users = new List<string>();
                    for (int s = 0; s < symCount; s++)
                        if ((U16(elf, versymOffset + 2 * s) & 0x7fff) == versionIndex)
                            users.Add(CString(elf, symStrings + (int)U32(elf, symOffset + 24 * s)));
                    if (users.TrueForAll(MarkerSymbols.Contains))
                    {
                        WriteU16(elf, aux + 4, (ushort)(flags | VerFlagWeak));
                        report.Add("weakened " + version + " (used only by " + string.Join(", ", users) + ")");
                    }
                    else
                    {
                        report.Add("kept " + version + ": needed by " + string.Join(", ", users.FindAll(u => !MarkerSymbols.Contains(u))));
                    }
                }
                aux += (int)U32(elf, aux + 12);
            }
            need += (int)U32(elf, need + 12);
        }
        return report;
    }

    /// <summary>True when the given libstdc++ defines <paramref name="version"/> (its name is in the file).</summary>
    public static bool LibraryDefines(byte[] library, string version)
    {
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        for (int i = 0; i + needle.Length <= library.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && library[i + j] == needle[j]) j++;
            if (j == needle.Length && (i == 0 || library[i - 1] == 0)) return true;
        }
        return false;
    }

    /// <summary>The system's libstdc++.so.6, or null when none of the usual places holds one.</summary>
    public static string? FindSystemLibstdcxx()
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                    "/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib" })
        {
            string path = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    static ushort U16(byte[] b, int o) => (ushort)(b[o] | b[o + 1] << 8);
    static uint U32(byte[] b, int o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
    static ulong U64(byte[] b, int o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;
    static void WriteU16(byte[] b, int o, ushort v) { b[o] = (byte)v; b[o + 1] = (byte)(v >> 8); }
    static string CString(byte[] b, int o)
    {
        int end = o;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, o, end - o);
    }
}

#if !LORAGEN_NO_MSBUILD
/// <summary>MSBuild task: patches each given copy of a native library in place, atomically.</summary>
public class LoraGenPatchGlibcxxMarker : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required]
    public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

    public override bool Execute()
    {
        string? libstdcxx = GlibcxxMarkerPatch.FindSystemLibstdcxx();
        if (libstdcxx == null) return true;   // not a glibc Linux we know: nothing to decide
        byte[] system = File.ReadAllBytes(libstdcxx);
        foreach (var item in Files)
        {
            string path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            byte[] elf = File.ReadAllBytes(path);
            var report = GlibcxxMarkerPatch.WeakenMissingMarkerVersions(elf, v => GlibcxxMarkerPatch.LibraryDefines(system, v));
            bool changed = report.Exists(r => r.StartsWith("weakened", StringComparison.Ordinal));
            foreach (var line in report)
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "LoraGen: {0}: {1}", path, line);
            if (!changed) continue;
            // Write a new file and rename it over the old one: atomic, and it breaks any hard link
            // to the NuGet cache instead of editing the cached original.
            string temp = path + ".loragen-tmp";
            File.WriteAllBytes(temp, elf);
            File.Replace(temp, path, null);
        }
        return !Log.HasLoggedErrors;
    }
}
#endif
