// TorchSharp's random generator is global: tests that seed it must not interleave, or their draws (and the
// figures they check) would depend on what else runs at the same time. libtorch already uses every core.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
