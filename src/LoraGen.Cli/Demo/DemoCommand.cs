using System.Diagnostics;
using System.Globalization;
using LoraGen.Checkpoints;
using LoraGen.Devices;
using LoraGen.Layers;
using LoraGen.Planning;
using Spectre.Console.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraGen.Cli.Demo;

/// <summary>
/// `loragen demo`: an end-to-end LoRA run on CPU in seconds. A "pretrained" MLP is frozen; the task is
/// a teacher whose every layer differs from it by a rank-4 update, exactly what LoRA can learn. The run
/// prints peft's parameter line and the loss falling, saves the adapter in peft's format and reloads it into a
/// fresh model, and checks that merged equals unmerged.
/// </summary>
internal sealed class DemoCommand : Command<DemoSettings>
{
    private const int TeacherRank = 4;

    public override int Execute(CommandContext context, DemoSettings settings, CancellationToken cancellation) => Run(settings.Options);

    private static int Run(DemoOptions options)
    {
        var device = ComputeDevice.Resolve(options.Device);
        HostMemory.FixMmapThreshold();     // once per training process: freed layer buffers go back to the OS
        Console.WriteLine($"LoraGen demo: {(options.QLora ? "QLoRA (NF4 base)" : "LoRA")} fine-tune on {device.type} (libtorch {__version__})");
        manual_seed(options.Seed);

        using var model = new DemoMlp(options.Width, 2 * options.Width, options.Width);
        model.to(device);
        using var teacher = Teacher(model, options, device);

        foreach (var entry in DemoMlp.LoraPlan)
            Console.WriteLine($"plan (compile time): {entry.Path}: r={entry.R}, alpha={entry.Alpha}, scaling={entry.Scaling}");
        var adapted = model.ApplyLora();
        if (options.QLora) Console.WriteLine($"quantized {model.QuantizeBase()} base layers to NF4");
        Console.WriteLine(ParameterSummary.Of(model));

        var frozenBefore = adapted.Select(l => BaseWeight(l).clone()).ToArray();
        using var optimizer = optim.AdamW(model.LoraParameters(), lr: options.LearningRate, weight_decay: 0);

        var clock = Stopwatch.StartNew();
        double firstLoss = 0, lastLoss = 0;
        for (int step = 0; step <= options.Steps; step++)
        {
            using var scope = NewDisposeScope();
            var x = randn(options.Batch, options.Width, device: device);
            Tensor target;
            using (no_grad()) target = teacher.forward(x);
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), target);
            loss.backward();
            optimizer.step();
            lastLoss = loss.item<float>();
            if (step == 0) firstLoss = lastLoss;
            if (step % Math.Max(1, options.Steps / 8) == 0)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {step,5}  loss {lastLoss:F6}"));
        }
        clock.Stop();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"loss {firstLoss:F6} -> {lastLoss:F6} ({firstLoss / lastLoss:F1}x lower) in {clock.Elapsed.TotalSeconds:F1} s, {clock.Elapsed.TotalMilliseconds / (options.Steps + 1):F2} ms/step"));

        bool frozen = adapted.Zip(frozenBefore).All(p => BaseWeight(p.First).eq(p.Second).all().item<bool>());
        Console.WriteLine($"base weights bitwise unchanged by training: {frozen}");
        foreach (var t in frozenBefore) t.Dispose();

        model.eval();
        using var probe = randn(256, options.Width, device: device);
        using var unmerged = model.forward(probe);
        double reloadError = SaveAndReload(model, options, device, probe, unmerged);
        model.MergeLora(safe: true);
        using var merged = model.forward(probe);
        double mergeError = (merged - unmerged).abs().max().item<float>();
        model.UnmergeLora();
        using var restored = model.forward(probe);
        double unmergeError = (restored - unmerged).abs().max().item<float>();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"merged vs unmerged: max |diff| = {mergeError:E2}; after unmerge: {unmergeError:E2}"));

        // A merge into a 4-bit base is quantized again: the rounding it adds is measured, not hidden. Unmerging
        // puts the original codes back, so the unmerged output returns exactly.
        bool mergeOk = options.QLora ? unmergeError == 0 : mergeError < 1e-4 && unmergeError < 1e-4;
        if (options.QLora)
            foreach (var layer in adapted)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {layer.GetName()}: requantization error of the merge: relative rms {layer.LastMergeError!.RelativeRms:P2}, max {layer.LastMergeError.MaxAbs:E2}"));
        bool ok = frozen && lastLoss < firstLoss / 10 && mergeOk && reloadError == 0;
        Console.WriteLine(ok ? "demo: OK" : "demo: FAILED (see the figures above)");
        return ok ? 0 : 1;
    }

    /// <summary>
    /// Saves the trained adapter in peft's format, loads it into a fresh copy of the pretrained model (same
    /// seed, so the same base weights) through the file's own configuration, as peft's from_pretrained does, and
    /// returns the largest output difference: 0 when the files are complete.
    /// </summary>
    private static double SaveAndReload(DemoMlp trained, DemoOptions options, Device device, Tensor probe, Tensor expected)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"loragen-demo-adapter-{Environment.ProcessId}");
        try
        {
            PeftAdapter.Save(trained, folder, baseModel: "loragen-demo-mlp");
            long bytes = new FileInfo(Path.Combine(folder, PeftAdapter.WeightsFile)).Length;
            manual_seed(options.Seed);
            using var fresh = new DemoMlp(options.Width, 2 * options.Width, options.Width);
            fresh.to(device);
            if (options.QLora) fresh.QuantizeBase();
            PeftAdapter.Load(fresh, folder);
            fresh.eval();
            using var reloaded = fresh.forward(probe);
            double error = (reloaded - expected).abs().max().item<float>();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"adapter saved in peft's format ({PeftAdapter.ConfigFile} + {PeftAdapter.WeightsFile}, {bytes:N0} bytes) and loaded into a fresh model: max |diff| = {error:E2}"));
            return error;
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The frozen base weight as stored: fp32, or the packed 4-bit codes.</summary>
    private static Tensor BaseWeight(LoraLinear layer) => layer.QuantizedBase?.Weight.Packed ?? layer.BaseLayer.weight;

    /// <summary>A copy of the model whose every weight is moved by a random rank-4 update.</summary>
    private static DemoMlp Teacher(DemoMlp model, DemoOptions options, Device device)
    {
        var teacher = new DemoMlp(options.Width, 2 * options.Width, options.Width);
        teacher.to(device);
        teacher.eval();
        using var _ = no_grad();
        var source = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in teacher.named_parameters())
        {
            parameter.copy_(source[name]);
            if (!name.EndsWith(".weight", StringComparison.Ordinal)) continue;
            using var u = randn(parameter.shape[0], TeacherRank, device: device);   // (out, 4)
            using var v = randn(TeacherRank, parameter.shape[1], device: device);   // (4, in)
            using var update = u.matmul(v).mul_(0.5 / Math.Sqrt(parameter.shape[1]));
            parameter.add_(update);
        }
        return teacher;
    }
}
