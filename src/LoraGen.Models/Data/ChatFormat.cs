using LoraGen.Planning;

namespace LoraGen.Models.Data;

/// <summary>One turn of a conversation: role system, user or assistant.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// The chat layouts of the families LoraGen knows, written out as their tokenizer_config.json templates render a
/// conversation (LoraGen does not run Jinja): assistant turns, with the token that ends them, are learned; everything
/// else is context. A family whose layout is not known is refused by name.
/// </summary>
public abstract record ChatFormat(string Name)
{
    public static readonly ChatFormat ChatMl = new Layout("ChatML", "", m => $"<|im_start|>{m.Role}\n", "<|im_end|>", "\n", SystemAsTurn: true);
    public static readonly ChatFormat Llama3 = new Layout("Llama-3", "<|begin_of_text|>", m => $"<|start_header_id|>{m.Role}<|end_header_id|>\n\n", "<|eot_id|>", "", SystemAsTurn: true);
    public static readonly ChatFormat Gemma = new Layout("Gemma", "<bos>", m => $"<start_of_turn>{(m.Role == "assistant" ? "model" : "user")}\n", "<end_of_turn>", "\n", SystemAsTurn: false);
    public static readonly ChatFormat Phi3 = new Layout("Phi-3", "", m => $"<|{m.Role}|>\n", "<|end|>", "\n", SystemAsTurn: true);
    public static readonly ChatFormat Instruct = new InstLayout();

    /// <summary>The layout of a model family; refused by name where none is known.</summary>
    public static ChatFormat For(ModelConfig config) => config.ModelType switch
    {
        "qwen2" or "qwen3" => ChatMl,
        "llama" when config.VocabSize >= 128_000 => Llama3,                            // Llama 3's 128k vocabulary
        "llama" or "mistral" => Instruct,                                              // Llama 2 and Mistral: [INST]
        "gemma2" or "gemma3_text" => Gemma,
        "phi3" => Phi3,
        _ => throw new DataException($"no chat format is known for model_type '{config.ModelType}'; use {{\"text\"}} or {{\"prompt\", \"completion\"}} lines"),
    };

    /// <summary>The conversation as text pieces; only assistant turns are learned.</summary>
    public abstract IReadOnlyList<Segment> Render(IReadOnlyList<ChatMessage> messages);

    /// <summary>A system message becomes the start of the first user turn, for layouts without a system turn.</summary>
    protected static IReadOnlyList<ChatMessage> FoldSystem(IReadOnlyList<ChatMessage> messages) =>
        messages.Count >= 2 && messages[0].Role == "system" && messages[1].Role == "user"
            ? [messages[1] with { Content = messages[0].Content + "\n\n" + messages[1].Content }, .. messages.Skip(2)]
            : messages;

    private sealed record Layout(string Name, string Start, Func<ChatMessage, string> Header, string End, string After, bool SystemAsTurn) : ChatFormat(Name)
    {
        public override IReadOnlyList<Segment> Render(IReadOnlyList<ChatMessage> messages)
        {
            var segments = new List<Segment> { new(Start, false) };
            foreach (var message in SystemAsTurn ? messages : FoldSystem(messages))
            {
                bool learned = message.Role == "assistant";
                segments.Add(new(Header(message), false));
                segments.Add(new(message.Content + End, learned));                     // the model learns to stop, too
                segments.Add(new(After, false));
            }
            return segments.Where(s => s.Text.Length > 0).ToArray();
        }
    }

    /// <summary>Llama 2 and Mistral: <c>&lt;s&gt;[INST] user [/INST] assistant&lt;/s&gt;</c>, the system message folded into the first user turn.</summary>
    private sealed record InstLayout() : ChatFormat("[INST]")
    {
        public override IReadOnlyList<Segment> Render(IReadOnlyList<ChatMessage> messages)
        {
            var segments = new List<Segment>();
            foreach (var message in FoldSystem(messages))
                segments.Add(message.Role == "assistant" ? new($" {message.Content}</s>", true) : new($"<s>[INST] {message.Content} [/INST]", false));
            return segments;
        }
    }
}
