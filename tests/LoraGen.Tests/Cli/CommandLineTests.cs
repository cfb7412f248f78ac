using LoraGen.Tests.Adapters;

namespace LoraGen.Tests.Cli;

/// <summary>The command line itself: help per command, both spellings of an option, and one line with exit code 2 per mistake.</summary>
[Collection(nameof(ConsoleOutput))]
public class CommandLineTests
{
    [Theory]
    [InlineData("demo", "--quick")]
    [InlineData("plan", "--targets <LIST>")]
    [InlineData("inspect", "<PATH>")]
    [InlineData("serve", "--adapter-root <DIR>")]
    public void Every_command_has_its_own_help(string command, string shown)
    {
        var (exit, output, error) = CliRunner.Run(command, "--help");
        Assert.Equal(0, exit);
        Assert.Contains(shown, output);
        Assert.Empty(error);
    }

    [Fact]
    public void The_command_list_shows_the_user_commands_and_hides_measure_step()
    {
        var (exit, output, _) = CliRunner.Run("--help");
        Assert.Equal(0, exit);
        foreach (var command in new[] { "demo", "plan", "inspect" }) Assert.Contains(command, output);
        Assert.DoesNotContain("measure-step", output);
    }

    [Fact]
    public void An_option_written_with_equals_means_the_same_as_with_a_space()
    {
        var spaced = CliRunner.Run("plan", "--preset", "gpt2", "--rank", "8", "--targets", "c_attn", "--format", "json");
        var joined = CliRunner.Run("plan", "--preset=gpt2", "--rank=8", "--targets=c_attn", "--format=json");
        Assert.Equal(0, spaced.Exit);
        Assert.Equal(spaced, joined);
    }

    public static TheoryData<string[], string> Mistakes => new()
    {
        { ["frobnicate"], "Unknown command 'frobnicate'" },
        { ["plan", "--bogus"], "Unknown option 'bogus'" },
        { ["plan", "--preset", "gpt2", "--rank", "8", "--targets", "c_attn", "--method", "qora"], "--method must be full, lora, dora or qlora; got 'qora'" },
        { ["plan", "--preset", "gpt2", "--rank", "8", "--targets", "c_attn", "--format=yaml"], "--format must be text or json; got 'yaml'" },
        { ["demo", "--seed", "-1"], "--seed must be at least 0; got -1" },
        { ["demo", "--seed", "many"], "--seed needs a whole number; got 'many'" },
        { ["demo", "--device", "tpu"], "--device must be auto, cpu or cuda; got 'tpu'" },
        { ["inspect"], "missing required argument 'PATH'" },
        { ["serve"], "no --model given and no demo model in ./loragen-demo: run `loragen demo` first, or pass --model DIR" },
        { ["serve", "--model", "/no/such/folder"], "--model: '/no/such/folder' is not a folder" },
        { ["serve", "--adapter", "sql"], "--adapter needs NAME=DIR; got 'sql'" },
        { ["serve", "--adapter", "sql=/no/such/folder"], "--adapter sql: '/no/such/folder' is not a folder" },
        { ["serve", "--adapter", "a=.", "--adapter", "a=."], "--adapter: the name 'a' is given twice" },
        { ["serve", "--adapter-root", "/no/such/folder"], "--adapter-root: '/no/such/folder' is not a folder" },
        { ["serve", "--host", "example.com"], "--host needs an IP address or localhost; got 'example.com'" },
        { ["serve", "--port", "-1"], "--port must be at least 0; got -1" },
        { ["serve", "--port", "http"], "--port needs a whole number; got 'http'" },
        { ["serve", "--max-tokens-limit", "0"], "--max-tokens-limit must be at least 1; got 0" },
        { ["serve", "--max-body-bytes", "1MB"], "--max-body-bytes needs a whole number; got '1MB'" },
        { ["serve", "--queue", "0"], "--queue must be at least 1; got 0" },
        { ["serve", "--device", "tpu"], "--device must be auto, cpu or cuda; got 'tpu'" },
        { ["serve", "--max-adapter-bytes", "0"], "--max-adapter-bytes needs a positive number of bytes, e.g. 536870912 or 512M; got '0'" },
        { ["serve", "--max-cpu-adapter-bytes", "2X"], "--max-cpu-adapter-bytes needs a positive number of bytes, e.g. 536870912 or 512M; got '2X'" },
        { ["serve", "--max-adapter-bytes", "99999999999T"], "--max-adapter-bytes is too large; got '99999999999T'" },
    };

    [Theory]
    [MemberData(nameof(Mistakes))]
    public void Every_mistake_exits_2_with_one_line_naming_it(string[] args, string message)
    {
        (int exit, string output, string error) = Bounded.Run(() => CliRunner.Run(args));
        Assert.Equal(2, exit);
        Assert.Contains(message, error);
        Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Empty(output);
    }
}
