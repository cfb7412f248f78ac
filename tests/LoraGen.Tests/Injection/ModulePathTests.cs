using LoraGen.Injection;
using LoraGen.Layers;

namespace LoraGen.Tests.Injection;

/// <summary>
/// peft's target-name rule as the generator and the runtime share it (a name equals the path, or the path ends with
/// "." + name, segment by segment; <c>{i}</c> matches any index), checked against a plain split-and-compare
/// statement of the rule written here.
/// </summary>
public class ModulePathTests
{
    private static bool Reference(string path, string name)
    {
        var p = path.Split('.');
        var n = name.Split('.');
        if (n.Length > p.Length) return false;
        static bool IsIndex(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);
        for (int i = 0; i < n.Length; i++)
        {
            string ps = p[p.Length - n.Length + i], ns = n[i];
            bool same = ps == ns || ps == "{i}" && IsIndex(ns) || ns == "{i}" && IsIndex(ps);
            if (!same) return false;
        }
        return true;
    }

    public static TheoryData<string, string, bool> Cases => new()
    {
        { "q_proj", "q_proj", true },
        { "layers.0.self_attn.q_proj", "q_proj", true },
        { "layers.0.self_attn.q_proj", "self_attn.q_proj", true },
        { "layers.0.self_attn.q_proj", "attn.q_proj", false },
        { "layers.0.self_attn.q_proj", "xq_proj", false },
        { "layers.{i}.fc", "layers.0.fc", true },
        { "layers.{i}.fc", "layers.x.fc", false },
        { "layers.{i}.fc", "layers.{i}.fc", true },
        { "layers.12.fc", "layers.{i}.fc", true },
        { "layers.{i}.fc", "0.fc", true },
        { "fc", "layers.0.fc", false },
        { "a..b", "b", true },
        { "a..b", ".b", true },
        { ".b", "a.b", false },
        { "", "", true },
        { "fc", "", false },
        { "{i}", "", false },
        { "layers.{i}.{i}.fc", "3.4.fc", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_peft_rule(string path, string name, bool expected)
    {
        Assert.Equal(expected, Reference(path, name));
        Assert.Equal(expected, new LoraClassTarget([name], new LoraConfig(2, 4)).Matches(path));
    }

    [Fact]
    public void Agrees_with_the_rule_on_random_paths()
    {
        var random = new Random(7);
        string[] segments = ["layers", "0", "12", "{i}", "q_proj", "fc", "", "mlp"];
        string Random(int max) => string.Join(".", Enumerable.Range(0, random.Next(1, max)).Select(_ => segments[random.Next(segments.Length)]));
        for (int trial = 0; trial < 5000; trial++)
        {
            string path = Random(5), name = Random(4);
            Assert.True(Reference(path, name) == new LoraClassTarget([name], new LoraConfig(2, 4)).Matches(path), $"path '{path}', name '{name}'");
        }
    }
}
