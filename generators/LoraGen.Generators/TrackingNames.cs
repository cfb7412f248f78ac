namespace LoraGen.Generators;

/// <summary>Names of the pipeline steps, for incremental-cacheability tests.</summary>
public static class TrackingNames
{
    public const string ClassRoots = nameof(ClassRoots);
    public const string FieldRoots = nameof(FieldRoots);
    public const string ModelRoots = nameof(ModelRoots);
    public const string Hosts = nameof(Hosts);
}
