using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LoraGen.Quantization;

/// <summary>
/// A weight matrix in 4 bits, as QLoRA stores it: codes packed two per byte, one absmax per block of
/// <see cref="BlockSize"/> weights, and, with double quantization, those absmax values themselves stored in
/// 8 bits: minus their mean, in blocks of 256 with one fp32 scale each. That is
/// 4 + 8/64 + 32/(64·256) ≈ 4.127 bits per weight. Owns its tensors.
/// </summary>
public sealed class QuantizedWeight : IDisposable
{
    /// <summary>Absmax values per second-level block, as in bitsandbytes.</summary>
    public const int AbsmaxBlockSize = 256;

    /// <summary>Weights quantized per step: bounds the temporaries of quantizing a large layer.</summary>
    private const long QuantizeChunk = 1 << 20;

    private QuantizedWeight(long[] shape, QuantType type, int blockSize, Tensor packed, Tensor? absmax, Tensor? absmaxCodes, Tensor? absmaxScales, Tensor? absmaxOffset)
    {
        Shape = shape;
        Type = type;
        BlockSize = blockSize;
        // A frozen Parameter, so a module can register it as its weight (wrapping takes over the handle).
        Packed = packed as Parameter ?? new Parameter(packed, requires_grad: false);
        Absmax = absmax;
        AbsmaxCodes = absmaxCodes;
        AbsmaxScales = absmaxScales;
        AbsmaxOffset = absmaxOffset;
    }

    /// <summary>The dense shape, e.g. (out, in).</summary>
    public long[] Shape { get; }

    public QuantType Type { get; }

    public int BlockSize { get; }

    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    public long Blocks => Count / BlockSize;

    /// <summary>(count/2,) uint8: code of weight 2k in the high nibble, of 2k+1 in the low one.</summary>
    public Parameter Packed { get; }

    /// <summary>(blocks,) fp32 scales, when not double-quantized.</summary>
    public Tensor? Absmax { get; }

    /// <summary>(blocks,) int8 codes of absmax − offset, with double quantization.</summary>
    public Tensor? AbsmaxCodes { get; }

    /// <summary>(⌈blocks/256⌉,) fp32: the absmax of each block of 256 centred absmax values.</summary>
    public Tensor? AbsmaxScales { get; }

    /// <summary>(1,) fp32: the mean absmax subtracted before the 8-bit step.</summary>
    public Tensor? AbsmaxOffset { get; }

    public bool DoubleQuantized => AbsmaxCodes is not null;

    /// <summary>Bytes actually allocated for the quantized state.</summary>
    public long StorageBytes => new[] { Packed, Absmax, AbsmaxCodes, AbsmaxScales, AbsmaxOffset }
        .Where(t => t is not null).Sum(t => t!.NumberOfElements * t.ElementSize);

    /// <summary>
    /// Quantizes a floating-point weight (fp32, fp16 or bf16; any shape whose size the block size divides).
    /// Each weight becomes the code whose value is nearest to weight / absmax of its block.
    /// </summary>
    public static QuantizedWeight Quantize(Tensor weight, QuantType type = QuantType.Nf4, int blockSize = 64, bool doubleQuantize = true, string name = "weight")
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (!weight.is_floating_point())
            throw new ArgumentException($"Cannot quantize '{name}': dtype {weight.dtype} is not a floating-point type (fp32, fp16, bf16).", nameof(weight));
        if (blockSize < 2 || blockSize % 2 != 0)
            throw new ArgumentException($"Cannot quantize '{name}': block size must be even and at least 2; got {blockSize}.", nameof(blockSize));
        long count = weight.numel();
        if (count == 0 || count % blockSize != 0)
            throw new ArgumentException($"Cannot quantize '{name}': block size {blockSize} does not divide its {count} weights (shape [{string.Join(", ", weight.shape)}]).", nameof(blockSize));

        Tensor packed;
        Tensor? absmax, codes = null, scales = null, offset = null;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var blocks = weight.detach().reshape(-1, blockSize);                    // (nb, bs)
            absmax = blocks.abs().amax([1]).to(float32);                            // (nb,)
            if (doubleQuantize)
            {
                (codes, scales, offset) = QuantizeAbsmax(absmax);
                absmax = DequantizeAbsmax(codes, scales, offset);   // choose codes against the scale actually stored
            }
            packed = empty(count / 2, dtype: ScalarType.Byte, device: weight.device);
            // A chunk of blocks at a time: the int64 code temporaries of a whole layer would be 16 bytes a weight.
            long chunkBlocks = Math.Max(1, QuantizeChunk / blockSize);
            for (long first = 0; first < blocks.shape[0]; first += chunkBlocks)
            {
                using var chunkScope = NewDisposeScope();
                long length = Math.Min(chunkBlocks, blocks.shape[0] - first);
                var normalized = blocks.narrow(0, first, length).to(float32)
                    / absmax.narrow(0, first, length).clamp_min(float.Epsilon).unsqueeze(1);   // (chunk, bs) in [-1, 1]
                packed.narrow(0, first * blockSize / 2, length * blockSize / 2).copy_(Pack(NearestCodes(normalized, type)));
            }
            packed = packed.MoveToOuterDisposeScope();
            absmax = doubleQuantize ? null : absmax.MoveToOuterDisposeScope();
            codes = codes?.MoveToOuterDisposeScope();
            scales = scales?.MoveToOuterDisposeScope();
            offset = offset?.MoveToOuterDisposeScope();
        }
        return new QuantizedWeight((long[])weight.shape.Clone(), type, blockSize, packed, absmax, codes, scales, offset);
    }

    /// <summary>Rebuilds quantized state from its tensors (e.g. a checkpoint), checking every shape and dtype; takes ownership of them.</summary>
    public static QuantizedWeight FromState(long[] shape, QuantType type, int blockSize, Tensor packed, Tensor? absmax,
        Tensor? absmaxCodes, Tensor? absmaxScales, Tensor? absmaxOffset, string name = "weight")
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (blockSize < 2 || blockSize % 2 != 0 || count == 0 || count % blockSize != 0)
            throw new ArgumentException($"Quantization state of '{name}': block size {blockSize} does not fit {count} weights.", nameof(blockSize));
        long blocks = count / blockSize;
        Check(name, "packed codes", packed, ScalarType.Byte, count / 2);
        if (absmaxCodes is null)
        {
            if (absmax is null) throw new ArgumentException($"Quantization state of '{name}': neither absmax nor double-quantized absmax given.");
            Check(name, "absmax", absmax, ScalarType.Float32, blocks);
        }
        else
        {
            Check(name, "absmax codes", absmaxCodes, ScalarType.Int8, blocks);
            Check(name, "absmax scales", absmaxScales ?? throw new ArgumentException($"Quantization state of '{name}': absmax scales missing."),
                ScalarType.Float32, (blocks + AbsmaxBlockSize - 1) / AbsmaxBlockSize);
            Check(name, "absmax offset", absmaxOffset ?? throw new ArgumentException($"Quantization state of '{name}': absmax offset missing."),
                ScalarType.Float32, 1);
        }
        return new QuantizedWeight((long[])shape.Clone(), type, blockSize, packed, absmax, absmaxCodes, absmaxScales, absmaxOffset);
    }

    /// <summary>A copy of this weight on <paramref name="device"/> (the same codes and scales).</summary>
    public QuantizedWeight To(Device device)
    {
        var moved = StateTensors().Select(t => t.to(device)).ToArray();
        return FromStateTensors(Shape, Type, BlockSize, moved);
    }

    /// <summary>The tensors that hold the state, in the order <see cref="FromStateTensors"/> takes them back.</summary>
    internal Tensor[] StateTensors() => DoubleQuantized ? [Packed, AbsmaxCodes!, AbsmaxScales!, AbsmaxOffset!] : [Packed, Absmax!];

    /// <summary>Rebuilds a weight from <see cref="StateTensors"/> of one with the same layout; takes ownership of them.</summary>
    internal static QuantizedWeight FromStateTensors(long[] shape, QuantType type, int blockSize, IReadOnlyList<Tensor> state) =>
        state.Count == 4
            ? FromState(shape, type, blockSize, state[0], null, state[1], state[2], state[3])
            : FromState(shape, type, blockSize, state[0], state[1], null, null, null);

    /// <summary>The dense weight, in <paramref name="dtype"/>, on the codes' device.</summary>
    public Tensor Dequantize(ScalarType dtype = ScalarType.Float32)
    {
        if (Packed.device_type != TorchSharp.DeviceType.CPU || !Packed.is_contiguous())
            return DequantizeWithTensorOps(dtype);
        using var flat = empty(Count, dtype: float32);
        DequantizeInto(flat);
        var dense = flat.reshape(Shape);                 // a view: the storage lives on after flat's handle goes
        if (dtype == ScalarType.Float32) return dense;
        using (dense) return dense.to(dtype);
    }

    /// <summary>The AVX2 kernel writing into <paramref name="destination"/>, (Count,) fp32 on the CPU.</summary>
    private unsafe void DequantizeInto(Tensor destination)
    {
        using var absmax = BlockAbsmax().contiguous();
        fixed (byte* packed = Packed.bytes)
        fixed (byte* scales = absmax.bytes)
        fixed (byte* dense = destination.bytes)
            FourBitKernel.Dequantize(packed, (float*)scales, FourBitCodebook.For(Type), (float*)dense, Blocks, BlockSize);
    }

    /// <summary>
    /// The same values with tensor ops only, on any device: one lookup per packed byte in a 256-entry table
    /// of value pairs, then the block scales.
    /// </summary>
    public Tensor DequantizeWithTensorOps(ScalarType dtype = ScalarType.Float32)
    {
        using var scope = NewDisposeScope();
        var absmax = BlockAbsmax();                                                    // (nb,)
        var codebook = tensor(FourBitCodebook.For(Type), device: Packed.device);       // (16,)
        var pairs = stack([codebook.repeat_interleave(16), codebook.repeat(16)], 1);    // (256, 2): byte → (high, low)
        var values = pairs[Packed.to(int64)];                                          // (count/2, 2)
        return values.reshape(-1, BlockSize).mul_(absmax.unsqueeze(1)).reshape(Shape).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>(blocks,) fp32 absmax, decoded from 8 bits when double-quantized.</summary>
    public Tensor BlockAbsmax() => AbsmaxCodes is null ? Absmax!.alias() : DequantizeAbsmax(AbsmaxCodes, AbsmaxScales!, AbsmaxOffset!);

    /// <summary>How far the dequantized weight is from <paramref name="dense"/>.</summary>
    public QuantizationError ErrorAgainst(Tensor dense)
    {
        using var scope = NewDisposeScope();
        var reference = dense.detach().to(float32).reshape(Shape);
        var diff = Dequantize().sub(reference);
        double rms = diff.square().mean().sqrt().item<float>();
        double scale = reference.square().mean().sqrt().item<float>();
        return new QuantizationError(diff.abs().max().item<float>(), rms, scale == 0 ? 0 : rms / scale);
    }

    /// <summary>Takes the tensors out of any dispose scope: the module that stores this weight owns them.</summary>
    internal void DetachFromDisposeScope()
    {
        foreach (var t in new[] { Packed, Absmax, AbsmaxCodes, AbsmaxScales, AbsmaxOffset })
            t?.DetachFromDisposeScope();
    }

    public void Dispose()
    {
        Packed.Dispose();
        Absmax?.Dispose();
        AbsmaxCodes?.Dispose();
        AbsmaxScales?.Dispose();
        AbsmaxOffset?.Dispose();
    }

    /// <summary>(nb, bs) values in [-1, 1] → (nb, bs) codes, the nearest codebook entry each.</summary>
    private static Tensor NearestCodes(Tensor normalized, QuantType type)
    {
        var codebook = FourBitCodebook.For(type);
        var order = Enumerable.Range(0, 16).OrderBy(i => codebook[i]).ThenBy(i => i).ToArray();   // FP4 is not sorted by code
        var sorted = order.Select(i => codebook[i]).ToArray();
        var midpoints = tensor(Enumerable.Range(0, 15).Select(i => (sorted[i] + sorted[i + 1]) / 2).ToArray(), device: normalized.device);
        var rank = bucketize(normalized, midpoints);                                   // index into the sorted values
        return tensor(order.Select(i => (long)i).ToArray(), device: normalized.device)[rank];
    }

    /// <summary>(nb, bs) codes → (nb·bs/2,) bytes, first code of each pair in the high nibble.</summary>
    private static Tensor Pack(Tensor codes)
    {
        var flat = codes.reshape(-1, 2);
        return flat[.., 0].bitwise_left_shift(4).bitwise_or(flat[.., 1]).to(ScalarType.Byte);
    }

    /// <summary>absmax − mean, in blocks of 256, as int8 with one fp32 scale per block.</summary>
    private static (Tensor Codes, Tensor Scales, Tensor Offset) QuantizeAbsmax(Tensor absmax)
    {
        long blocks = absmax.shape[0];
        long padded = (blocks + AbsmaxBlockSize - 1) / AbsmaxBlockSize * AbsmaxBlockSize;
        var offset = absmax.mean().reshape(1);                                          // (1,)
        var centred = nn.functional.pad(absmax - offset, [0, padded - blocks]).reshape(-1, AbsmaxBlockSize);
        var scales = centred.abs().amax([1]);                                           // (⌈nb/256⌉,)
        var codes = (centred / scales.clamp_min(float.Epsilon).unsqueeze(1) * 127).round().clamp(-127, 127);
        return (codes.reshape(-1).narrow(0, 0, blocks).to(ScalarType.Int8), scales, offset);
    }

    private static Tensor DequantizeAbsmax(Tensor codes, Tensor scales, Tensor offset)
    {
        long blocks = codes.shape[0];
        long padded = scales.shape[0] * AbsmaxBlockSize;
        var grouped = nn.functional.pad(codes.to(float32), [0, padded - blocks]).reshape(-1, AbsmaxBlockSize);
        var centred = grouped.mul(scales.unsqueeze(1) / 127).reshape(-1).narrow(0, 0, blocks);
        return centred.add(offset).clamp_min(0);                                        // a scale is never negative
    }

    private static void Check(string name, string part, Tensor tensor, ScalarType dtype, long count)
    {
        if (tensor.dtype != dtype || tensor.numel() != count || tensor.dim() != 1)
            throw new ArgumentException(
                $"Quantization state of '{name}': {part} must be a 1-d {dtype} tensor of {count} elements; got {tensor.dtype} [{string.Join(", ", tensor.shape)}].");
    }
}
