using System.Diagnostics;
using System.Text.Json;
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Tokenization;
using LoraGen.Planning;
using LoraGen.Tests.Adapters;
using static TorchSharp.torch;

namespace LoraGen.Tests.Checkpoints;

/// <summary>
/// Hostile files, paths and numbers, made by the test: every reader and every CLI command refuses them with the
/// project's own exception (exit code 2 for the CLI) naming the path the user gave, in bounded time: no hang on a
/// FIFO, no out-of-memory on /dev/zero, no stack trace, no SIGBUS, no wrong figure.
/// </summary>
[Collection(nameof(ConsoleOutput))]
public sealed class HostileInputTests() : TemporaryFolder("loragen-hostile-")
{
        private string PathOf(string name) => Path.Combine(Folder.FullName, name);

    /// <summary>Makes <paramref name="path"/> into the hostile thing <paramref name="kind"/> names; returns what the message must say.</summary>
    private static string Make(string path, string kind, long sizeLimit = InputFile.JsonLimit)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        switch (kind)
        {
            case "fifo":
                using (var mkfifo = Process.Start("mkfifo", [path])) mkfifo.WaitForExit();
                return "is a FIFO (named pipe), not a regular file";
            case "symlink loop":
                File.CreateSymbolicLink(path, path + ".other");
                File.CreateSymbolicLink(path + ".other", path);
                return "is a symbolic link loop";
            case "dangling symlink":
                File.CreateSymbolicLink(path, path + ".missing");
                return "which does not exist";
            case "device":
                File.CreateSymbolicLink(path, "/dev/zero");
                return "is a device, not a regular file";
            case "folder":
                Directory.CreateDirectory(path);
                return "is a folder, not a file";
            case "oversize":
                using (var sparse = new FileStream(path, FileMode.CreateNew)) sparse.SetLength(sizeLimit + 1);   // sparse: no real disk
                return $"is {sizeLimit + 1:N0} bytes; a file of this kind is at most";
            default:
                throw new ArgumentException(kind);
        }
    }

    public static TheoryData<string, string> ReaderCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var reader in new[] { "config.json", "adapter_config.json", "model.safetensors.index.json", "model.safetensors", "tokenizer.json" })
            foreach (var kind in new[] { "fifo", "symlink loop", "dangling symlink", "device", "folder", "oversize" })
                if (!(kind == "oversize" && reader == "model.safetensors"))       // its limit is the header's, tested elsewhere
                    data.Add(reader, kind);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(ReaderCases))]
    public void Every_reader_refuses_what_is_not_a_regular_file_of_sane_size(string reader, string kind)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "FIFOs, /dev/zero and file types are checked through Linux's statx");
        string folder = PathOf(reader + "-" + kind.Replace(' ', '-'));
        string path = Path.Combine(folder, reader);
        string message = Make(path, kind, reader == "tokenizer.json" ? InputFile.TokenizerLimit : InputFile.JsonLimit);
        if (reader == "config.json" && kind == "folder")
            (path, message) = (Path.Combine(path, "config.json"), "no such file");   // a folder is a model folder: its config.json is read
        Action read = reader switch
        {
            "config.json" => () => ModelConfigReader.FromFile(Path.Combine(folder, reader)),
            "adapter_config.json" => () => AdapterConfigFile.Read(path),
            "model.safetensors.index.json" => () => ShardedCheckpoint.Open(folder).Dispose(),
            "model.safetensors" => () => SafetensorsFile.Open(path).Dispose(),
            _ => () => TokenizerLoader.FromTokenizerJson(path),
        };
        var error = reader == "config.json"
            ? (Exception)Bounded.Throws<PlanException>(read)
            : Bounded.Throws<CheckpointException>(read);
        Assert.StartsWith(path + ": ", error.Message);
        Assert.Contains(message, error.Message);
    }

    public static TheoryData<string, string> CliCases() => new()
    {
        { "plan-config", "fifo" }, { "plan-config", "symlink loop" }, { "plan-config", "device" }, { "plan-config", "oversize" },
        { "inspect-file", "fifo" }, { "inspect-file", "symlink loop" }, { "inspect-file", "device" }, { "inspect-file", "dangling symlink" },
        { "inspect-adapter", "fifo" }, { "inspect-index", "fifo" }, { "inspect-index", "symlink loop" },
    };

    [SkippableTheory]
    [MemberData(nameof(CliCases))]
    public void Every_command_exits_2_with_one_line_naming_the_file(string command, string kind)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "FIFOs, /dev/zero and file types are checked through Linux's statx");
        string folder = PathOf(command + "-" + kind.Replace(' ', '-'));
        string path = command switch
        {
            "plan-config" => Path.Combine(folder, "config.json"),
            "inspect-file" => Path.Combine(folder, "model.safetensors"),
            "inspect-adapter" => Path.Combine(folder, "adapter_config.json"),
            _ => Path.Combine(folder, "model.safetensors.index.json"),
        };
        string message = Make(path, kind);
        string[] args = command switch
        {
            "plan-config" => ["plan", "--config", folder, "--rank", "8", "--targets", "q_proj"],
            "inspect-file" => ["inspect", path],
            _ => ["inspect", folder],
        };
        var (exit, _, error) = Bounded.Run(() => CliRunner.Run(args));
        Assert.Equal(2, exit);
        Assert.Contains(path, error);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_file_truncated_while_open_is_an_error_naming_it_not_a_crash()
    {
        string path = PathOf("shrinks.safetensors");
        using var big = ones(1 << 16);                                          // 256 KB of data
        SafetensorsWriter.Write(path, [("w", big)]);
        using var file = SafetensorsFile.Open(path);
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write)) stream.SetLength(200);
        using var destination = empty(1 << 16);
        var error = Bounded.Throws<CheckpointException>(() => file.ReadInto("w", destination));
        Assert.Equal($"{path}: tensor 'w': ends early: the file was truncated while open", error.Message);
    }

    public static TheoryData<string[], string> NumberCases() => new()
    {
        { ["plan", "--preset", "llama-3-8b", "--rank", "16", "--targets", "all-linear", "--batch", "1000000", "--seq", "1000000"], "pass 2^63: too large to mean anything" },
        { ["plan", "--preset", "llama-3-8b", "--rank", "16", "--targets", "all-linear", "--alpha", "Infinity"], "--alpha needs a finite number; got 'Infinity'" },
        { ["plan", "--preset", "llama-3-8b", "--rank", "16", "--targets", "all-linear", "--alpha", "1e400"], "--alpha needs a finite number; got '1e400'" },
        { ["plan", "--preset", "llama-3-8b", "--rank", "99999999999", "--targets", "all-linear"], "--rank must be at most 2,147,483,647; got '99999999999'" },
        { ["plan", "--preset", "llama-3-8b", "--rank", "16", "--targets", "all-linear", "--seq", "12x"], "--seq needs a whole number; got '12x'" },
    };

    [Theory]
    [MemberData(nameof(NumberCases))]
    public void Huge_and_non_finite_numbers_are_refused_not_turned_into_wrong_figures(string[] args, string message)
    {
        var (exit, output, error) = Bounded.Run(() => CliRunner.Run(args));
        Assert.Equal(2, exit);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(output);                                                   // no figure printed at all
    }

    [Fact]
    public void Two_billion_layers_are_counted_per_kind_exactly_and_fast()
    {
        string config = PathOf("many-layers.json");
        File.WriteAllText(config, """
            {"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2147483647,
             "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000}
            """);
        var (exit, output, error) = Bounded.Run(() => CliRunner.Run("plan", "--config", config, "--method", "full", "--format", "json", "--seq", "16"));
        Assert.True(exit == 0, error);
        // Independently: embeddings and lm_head, then per layer q, k, v, o, gate, up, down and two norms, and the final norm.
        long h = 64, kv = 32, inter = 172, layers = int.MaxValue, vocab = 1000;
        long expected = 2 * vocab * h + layers * (2 * h * h + 2 * h * kv + 3 * h * inter + 2 * h) + h;
        Assert.Equal(expected, JsonDocument.Parse(output).RootElement.GetProperty("all_params").GetInt64());
    }

    [Fact]
    public void Writers_refuse_to_replace_what_is_not_a_regular_file_and_name_the_users_path()
    {
        using var weight = ones(4);
        var device = Bounded.Throws<CheckpointException>(() => SafetensorsWriter.Write("/dev/full", [("w", weight)]));
        Assert.Equal("/dev/full: exists and is not a regular file; LoraGen replaces only regular files", device.Message);

        string underAFile = Path.Combine(PathOf("a-file"), "model.safetensors");
        File.WriteAllText(PathOf("a-file"), "not a folder");
        var parent = Bounded.Throws<CheckpointException>(() => SafetensorsWriter.Write(underAFile, [("w", weight)]));
        Assert.StartsWith(underAFile + ": cannot be written", parent.Message);
        Assert.DoesNotContain(".tmp", parent.Message);

        using var model = new RuntimeClassifier();
        model.ApplyLora(new PeftLoraConfig { TargetModules = ModuleSelector.Names("fc") });
        var folder = Bounded.Throws<CheckpointException>(() => PeftAdapter.Save(model, PathOf("a-file")));
        Assert.Equal($"{PathOf("a-file")}: exists and is not a folder", folder.Message);
    }

    [SkippableFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_read_only_folder_is_an_error_naming_the_users_path()
    {
        Skip.If(Environment.UserName == "root" || !OperatingSystem.IsLinux(), "root writes into read-only folders");
        string folder = PathOf("read-only");
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        using var weight = ones(4);
        string path = Path.Combine(folder, "model.safetensors");
        var error = Bounded.Throws<CheckpointException>(() => SafetensorsWriter.Write(path, [("w", weight)]));
        Assert.Equal($"{path}: cannot be written (permission denied)", error.Message);
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Fact]
    public void Inspect_escapes_control_characters_in_every_name()
    {
        string path = PathOf("names.safetensors");
        using var weight = ones(2);
        SafetensorsWriter.Write(path, [("evil\u001b[31mred\nfake | row\0", weight)], new Dictionary<string, string> { ["note"] = "\u001b]0;title\u0007" });
        var (exit, output, _) = CliRunner.Run("inspect", path);
        Assert.Equal(0, exit);
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotContain('\0', output);
        Assert.Contains(@"evil\u001B[31mred\u000Afake | row\u0000", output);
        Assert.Contains(@"note=\u001B]0;title\u0007", output);
    }

    [Fact]
    public void A_pickle_given_to_inspect_is_refused_as_a_pickle()
    {
        string path = PathOf("pytorch_model.bin");
        File.WriteAllBytes(path, [0x80, 0x02, 0x7d, 0x71]);
        var (exit, _, error) = CliRunner.Run("inspect", path);
        Assert.Equal(2, exit);
        Assert.Contains($"{path}: pickle checkpoints (.bin/.pt) can run arbitrary code", error);
    }

    [Fact]
    public void A_key_listed_twice_in_an_index_is_named()
    {
        string folder = PathOf("duplicate-index");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), """{"weight_map": {"w": "a.safetensors", "w": "b.safetensors"}}""");
        var error = Bounded.Throws<CheckpointException>(() => ShardedCheckpoint.Open(folder).Dispose());
        Assert.Equal($"{Path.Combine(folder, "model.safetensors.index.json")}: tensor 'w': is listed twice in weight_map", error.Message);
    }

    [Fact]
    public void A_Hugging_Face_cache_folder_of_symbolic_links_opens_with_the_targets_sizes()
    {
        // snapshots/<rev>/model.safetensors -> ../../blobs/<sha>, as huggingface_hub lays out its cache.
        string blobs = PathOf("hub/blobs"), snapshot = PathOf("hub/snapshots/rev1");
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        using var weight = arange(6, dtype: ScalarType.Float32);
        SafetensorsWriter.Write(Path.Combine(blobs, "5f3a"), [("w", weight)]);
        File.CreateSymbolicLink(Path.Combine(snapshot, "model.safetensors"), "../../blobs/5f3a");
        using var checkpoint = ShardedCheckpoint.Open(snapshot);
        using var read = checkpoint.Read("w");
        TensorAssert.BitwiseEqual(weight, read);
        var (exit, output, error) = CliRunner.Run("inspect", snapshot);
        Assert.True(exit == 0, error);
        Assert.Contains("1 tensors, 24 bytes", output);
    }

    public static TheoryData<string, string> ConfigCases() => new()
    {
        { """{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 50, "rope_theta": 1e400}""",
          "field 'rope_theta' must be a positive finite number; got 1e400" },
        { """{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 65536, "num_key_value_heads": 1, "head_dim": 65536, "vocab_size": 50}""",
          "the sizes are too large to mean anything" },
        { """{"model_type": "gpt2", "n_embd": 1000000000, "n_layer": 2, "n_head": 4, "vocab_size": 50, "n_positions": 16}""",
          "the sizes are too large to mean anything" },
        { """{"model_type": "mistral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 50, "max_position_embeddings": 0, "rope_scaling": {"type": "dynamic", "factor": 2}}""",
          "field 'max_position_embeddings' must be a positive whole number; got 0" },
    };

    [Theory]
    [MemberData(nameof(ConfigCases))]
    public void Absurd_config_numbers_are_refused_by_field_not_crashed_on(string json, string message)
    {
        string path = PathOf("absurd.json");
        File.WriteAllText(path, json);
        var (exit, _, error) = Bounded.Run(() => CliRunner.Run("plan", "--config", path, "--method", "full"));
        Assert.Equal(2, exit);
        Assert.Contains($"{path}: {message}", error);
    }

    [Theory]
    [InlineData("target_modules", "\"q_proj(\"", "field 'target_modules' is not a valid regular expression: q_proj(")]
    [InlineData("rank_pattern", "{\"q[\": 4}", "pattern key 'q[' (rank_pattern or alpha_pattern) is not a valid regular expression")]
    public void A_malformed_regular_expression_in_an_adapter_config_is_named(string field, string value, string message)
    {
        string directory = PathOf("bad-regex-" + field);
        var config = Adapters.PeftFixture.Config((field, System.Text.Json.Nodes.JsonNode.Parse(value)));
        using var a = zeros(8, 32);
        Adapters.PeftFixture.Write(directory, config, [("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", a)]);
        var error = Bounded.Throws<CheckpointException>(() => AdapterConfigFile.Read(Path.Combine(directory, "adapter_config.json")));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Inspect_names_an_adapter_tensor_outside_peft_prefix()
    {
        string directory = PathOf("no-prefix");
        using var a = zeros(8, 32);
        Adapters.PeftFixture.Write(directory, Adapters.PeftFixture.Config(), [("a.lora_A.weight", a)]);
        var (exit, _, error) = CliRunner.Run("inspect", directory);
        Assert.Equal(2, exit);
        Assert.Contains("tensor 'a.lora_A.weight': is not under peft's 'base_model.model.' prefix", error);
    }

    [Fact]
    public void A_failure_inside_an_adapter_save_names_the_target_not_the_staging_folder()
    {
        string target = PathOf("adapter");
        var error = Bounded.Throws<CheckpointException>(() => AtomicFolder.Write(target, folder =>
            throw CheckpointException.For(Path.Combine(folder, "adapter_model.safetensors"), "cannot be written (no space left on the device)")));
        Assert.Equal($"{Path.Combine(target, "adapter_model.safetensors")}: cannot be written (no space left on the device)", error.Message);
        Assert.Empty(AtomicFolder.Leftovers(Folder.FullName, "adapter"));
    }
}
