namespace LoraGen.Cli.Demo;

/// <summary>
/// One task of the demo's synthetic language of tasks: a name and what it does to a word. Its text is the prompt
/// <c>name:word&gt;</c> and the completion, e.g. <c>rev:abc&gt;</c> → <c>cba</c> (no spaces: the character tokenizer needs none).
/// </summary>
internal sealed record Skill(string Name, Func<string, string> Apply)
{
    /// <summary>Pretraining: the word as it is.</summary>
    public static readonly Skill Copy = new("copy", word => word);

    /// <summary>Pretraining: the word backwards.</summary>
    public static readonly Skill Reverse = new("rev", word => new string(word.Reverse().ToArray()));

    /// <summary>A new skill: the word, then the word backwards (a palindrome), never seen in pretraining.</summary>
    public static readonly Skill Palindrome = new("pal", word => word + Reverse.Apply(word));

    /// <summary>A second new skill, for the hot-swap check: the word twice.</summary>
    public static readonly Skill Twice = new("twice", word => word + word);

    /// <summary>The longest completion any skill writes for a word of <paramref name="wordLength"/> letters.</summary>
    public static int LongestCompletion(int wordLength) => 2 * wordLength;

    public string Prompt(string word) => $"{Name}:{word}>";
}
