// Side-by-side benchmarks that print ratios from one run. Usage:
//   dotnet run -c Release --project tests/LoraGen.Benchmarks [-- forward|train-step|generator|qlora|safetensors|loading|training|serving|server ...] [--quick]
using LoraGen.Benchmarks;

if (args is ["memory-child", var method, ..]) return QLoraBenchmark.RunChild(method, args.Contains("fixed-mmap-threshold"));   // own process: own VmHWM
if (args is ["load-child", var folder]) return LoadingBenchmark.RunChild(folder);
if (args is ["training-child", var shape, var trained, var checkpointing, var count]) return TrainingBenchmark.RunChild(shape, trained, checkpointing == "checkpointed", int.Parse(count));

var quick = args.Contains("--quick");
var chosen = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToHashSet();
var benchmarks = new (string Name, Action<bool> Run)[]
{
    ("forward", ForwardBenchmark.Run),
    ("train-step", TrainStepBenchmark.Run),
    ("generator", GeneratorBenchmark.Run),
    ("qlora", QLoraBenchmark.Run),
    ("safetensors", SafetensorsBenchmark.Run),
    ("loading", LoadingBenchmark.Run),
    ("training", TrainingBenchmark.Run),
    ("serving", ServingBenchmark.Run),
    ("server", ServerBenchmark.Run),
};
var unknown = chosen.Except(benchmarks.Select(b => b.Name)).ToArray();
if (unknown.Length > 0)
{
    Console.Error.WriteLine($"unknown benchmark(s): {string.Join(", ", unknown)}; known: {string.Join(", ", benchmarks.Select(b => b.Name))}");
    return 2;
}
Console.WriteLine($"torch {TorchSharp.torch.__version__}, {Environment.ProcessorCount} cores, threads {TorchSharp.torch.get_num_threads()}");
foreach (var (name, run) in benchmarks)
    if (chosen.Count == 0 || chosen.Contains(name)) run(quick);
return 0;
