// Child processes for the tests (tests/LoraGen.Tests/Adapters):
//   save-loop DIR      saves adapter "default" of a small Llama to DIR again and again, save i with r = 4 or 8,
//                      base_model_name_or_path "save-i" and every B entry equal to i; prints "saving i" first
//   logits DIR OUT     loads the peft adapter in DIR into the small Llama and writes its logits to OUT (safetensors)
using LoraGen.Adapters;
using LoraGen.Checkpoints;
using LoraGen.Models.Llama;
using LoraGen.Planning;
using static TorchSharp.torch;

switch (args)
{
    case ["save-loop", var directory]:
    {
        using var model = SmallLlama.Build(SmallLlama.Large);
        Console.WriteLine("ready");
        for (int i = 0; ; i++)
        {
            if (i > 0) model.DeleteAdapter("default");
            model.ApplyLora(SmallLlama.SaveConfig(i));
            using (no_grad())
                foreach (var layer in ModelAdapters.Layers(model)) layer.Adapter("default").B.weight.fill_(i);
            Console.WriteLine($"saving {i}");
            PeftAdapter.Save(model, directory);
        }
    }
    case ["logits", var directory, var output]:
    {
        using var model = SmallLlama.Build(SmallLlama.Tiny);
        PeftAdapter.Load(model, directory);
        model.eval();
        using var ids = SmallLlama.Ids();
        using var logits = model.forward(ids);
        SafetensorsWriter.Write(output, [("logits", logits)]);
        return 0;
    }
    default:
        Console.Error.WriteLine("usage: save-loop DIR | logits DIR OUT");
        return 2;
}

/// <summary>The models the tests build the same way in their own process.</summary>
public static class SmallLlama
{
    public static readonly ModelConfig Tiny = new("llama", ModelFamily.Llama, 32, 64, 2, 4, 2, 50, false);

    /// <summary>Big enough that a save takes a while (about 7 MB of adapter at r = 8).</summary>
    public static readonly ModelConfig Large = new("llama", ModelFamily.Llama, 512, 1024, 2, 8, 8, 50, false);

    public static LlamaForCausalLM Build(ModelConfig config)
    {
        manual_seed(1);
        return new LlamaForCausalLM(config);
    }

    public static PeftLoraConfig SaveConfig(int save) => new()
    {
        R = save % 2 == 0 ? 4 : 8,
        LoraAlpha = 8,
        TargetModules = ModuleSelector.Names("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        BaseModelNameOrPath = $"save-{save}",
    };

    public static Tensor Ids()
    {
        manual_seed(2);
        return randint(0, Tiny.VocabSize, [2, 6]);
    }
}
