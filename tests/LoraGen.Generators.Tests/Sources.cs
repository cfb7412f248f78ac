namespace LoraGen.Generators.Tests;

/// <summary>Model sources the tests compile: small, but shaped like real ones.</summary>
internal static class Sources
{
    public const string Usings = """
        using LoraGen;
        using LoraGen.Layers;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        """;

    public const string FieldTargets = Usings + """
        namespace Demo.Models;

        public sealed partial class Attention : Module<Tensor, Tensor>
        {
            [LoraTarget(r: 16, alpha: 32, Dropout = 0.05, Init = LoraInit.Gaussian)] private Module<Tensor, Tensor> q_proj = Linear(64, 64);
            private Module<Tensor, Tensor> k_proj = Linear(64, 64);
            [LoraTarget(r: 8, alpha: 16, Dropout = 0.05, Init = LoraInit.Gaussian)] private Module<Tensor, Tensor> v_proj;
            private Module<Tensor, Tensor> o_proj = Linear(64, 64, hasBias: false);

            public Attention() : base(nameof(Attention))
            {
                v_proj = Linear(64, 64);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => o_proj.forward(q_proj.forward(x) + k_proj.forward(x) + v_proj.forward(x));
        }
        """;

    public const string Llama = Usings + """
        namespace Demo.Llama;

        internal static class Sizes
        {
            public const int Hidden = 64;
            public const int Intermediate = 172;
            public const int Vocab = 1000;
        }

        public sealed partial class SelfAttention : Module<Tensor, Tensor>
        {
            private Module<Tensor, Tensor> q_proj = Linear(Sizes.Hidden, Sizes.Hidden, hasBias: false);
            private Module<Tensor, Tensor> k_proj = Linear(Sizes.Hidden, Sizes.Hidden / 4, hasBias: false);
            private Module<Tensor, Tensor> v_proj = Linear(Sizes.Hidden, Sizes.Hidden / 4, hasBias: false);
            private Module<Tensor, Tensor> o_proj = Linear(Sizes.Hidden, Sizes.Hidden, hasBias: false);
            public SelfAttention() : base(nameof(SelfAttention)) => RegisterComponents();
            public override Tensor forward(Tensor x) => o_proj.forward(q_proj.forward(x));
        }

        public sealed partial class Mlp : Module<Tensor, Tensor>
        {
            private Module<Tensor, Tensor> gate_proj = Linear(Sizes.Hidden, Sizes.Intermediate, hasBias: false);
            private Module<Tensor, Tensor> up_proj = Linear(Sizes.Hidden, Sizes.Intermediate, hasBias: false);
            private Module<Tensor, Tensor> down_proj = Linear(Sizes.Intermediate, Sizes.Hidden, hasBias: false);
            private Module<Tensor, Tensor> act = SiLU();
            public Mlp() : base(nameof(Mlp)) => RegisterComponents();
            public override Tensor forward(Tensor x) => down_proj.forward(act.forward(gate_proj.forward(x)) * up_proj.forward(x));
        }

        public sealed partial class DecoderLayer : Module<Tensor, Tensor>
        {
            private SelfAttention self_attn = new();
            private Mlp mlp = new();
            public DecoderLayer() : base(nameof(DecoderLayer)) => RegisterComponents();
            public override Tensor forward(Tensor x) => mlp.forward(self_attn.forward(x));
        }

        [LoraTarget(r: 8, alpha: 16, Strategy = LoraStrategy.AllLinear)]
        public sealed partial class TinyLlama : Module<Tensor, Tensor>
        {
            private Embedding embed_tokens = Embedding(Sizes.Vocab, Sizes.Hidden);
            private ModuleList<DecoderLayer> layers = new(new DecoderLayer(), new DecoderLayer());
            private Module<Tensor, Tensor> lm_head = Linear(Sizes.Hidden, Sizes.Vocab, hasBias: false);
            public TinyLlama() : base(nameof(TinyLlama)) => RegisterComponents();
            public override Tensor forward(Tensor x) => lm_head.forward(x);
        }
        """;

    public const string NestedGeneric = Usings + """
        public partial class Outer
        {
            [LoraTarget(r: 4, alpha: 8, Modules = new[] { "proj", "inner.fc" }, UseDora = true, UseRsLora = true)]
            public partial class Block<T> : Module<Tensor, Tensor>
            {
                private Module<Tensor, Tensor> proj = Linear(32, 32);
                private Inner inner = new();
                public Block() : base("block") => RegisterComponents();
                public override Tensor forward(Tensor x) => inner.forward(proj.forward(x));
            }

            public partial class Inner : Module<Tensor, Tensor>
            {
                [TorchSharp.Utils.ComponentName(Name = "fc")] private Module<Tensor, Tensor> _fc = Linear(32, 16);
                public Inner() : base("inner") => RegisterComponents();
                public override Tensor forward(Tensor x) => _fc.forward(x);
            }
        }
        """;

    /// <summary>A model that declares no adapter of its own: run-time adapters only, through [LoraModel].</summary>
    public const string RuntimeOnly = Usings + """
        namespace Demo.Runtime;

        [LoraModel]
        public sealed partial class Classifier : Module<Tensor, Tensor>
        {
            private ModuleList<Block> layers = new(new Block(), new Block());
            private Module<Tensor, Tensor> score = Linear(16, 3);
            public Classifier() : base(nameof(Classifier)) => RegisterComponents();
            public override Tensor forward(Tensor x) => score.forward(x);
        }

        public sealed partial class Block : Module<Tensor, Tensor>
        {
            private Module<Tensor, Tensor> fc = Linear(16, 16);
            public Block() : base(nameof(Block)) => RegisterComponents();
            public override Tensor forward(Tensor x) => fc.forward(x);
        }
        """;
}
