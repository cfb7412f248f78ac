using LoraGen.Layers;

namespace LoraGen.Injection;

/// <summary>
/// What a class-level <see cref="LoraTargetAttribute"/> adapts, as the generator resolved it: module names
/// or path patterns (matched by <see cref="ModulePath.Matches"/>) and the settings they get.
/// </summary>
public sealed record LoraClassTarget(IReadOnlyList<string> Names, LoraConfig Config)
{
    public bool Matches(string path) => Names.Any(name => ModulePath.Matches(path, name));
}
