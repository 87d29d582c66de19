"""Bytes of non-GGUF checkpoints (safetensors) per storage format, from the same tensor list as GGUF.

GPU engines (vLLM, TGI, transformers) load Hugging Face checkpoints whose quantized formats all follow
one pattern: the linear layers inside the transformer blocks are stored packed, with per-tensor,
per-channel, per-group or per-block scales (and zero points); embeddings, the output head, norms, biases
and MoE routers stay 16-bit. Each format below is one row of :data:`FORMATS` saying how a linear weight
of ``in_features × out_features`` is stored. Sources per format are in the row's docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sizer.errors import InvalidInputError
from sizer.estimate.tensors import (
    TensorBytes,
    TensorSpec,
    WeightsBreakdown,
    model_tensors,
)
from sizer.types import ModelEntry


class CheckpointFormat(str, Enum):
    """Weight storage formats of Hugging Face checkpoints that GPU engines load."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    FP8 = "fp8"
    INT8 = "int8"
    EETQ = "eetq"
    NF4 = "nf4"
    FP4 = "fp4"
    GPTQ = "gptq"
    AWQ = "awq"
    MXFP4 = "mxfp4"


@dataclass(frozen=True)
class QuantOptions:
    """The knobs a format has: bit width and group size (GPTQ/AWQ), double quantization (bitsandbytes
    4-bit), scale granularity (FP8)."""

    bits: int = 4
    group_size: int | None = 128  # None or ≤ 0: one group per output column ("-1g")
    double_quant: bool = True
    fp8_scales: str = "channel"  # "tensor", "channel" or "block" (128×128)


@dataclass(frozen=True)
class LinearShape:
    """A matmul weight as the checkpoint stores it: ``matrices`` × (in_features → out_features)."""

    in_features: int
    out_features: int
    matrices: int = 1

    @property
    def n_weights(self) -> int:
        return self.in_features * self.out_features * self.matrices


def _packed_int32_bytes(values: int, bits: int) -> int:
    """Bytes of ``values`` integers of ``bits`` bits packed into int32 words."""
    return math.ceil(values * bits / 32) * 4


def _groups(shape: LinearShape, group_size: int | None) -> int:
    return math.ceil(shape.in_features / group_size) if group_size and group_size > 0 else 1


# --------------------------------------------------------------------------- per-format storage


def _float_bytes(width: int) -> Callable[[LinearShape, QuantOptions], int]:
    return lambda shape, opts: shape.n_weights * width


def _fp8_bytes(shape: LinearShape, opts: QuantOptions) -> int:
    """FP8 E4M3 weights, 1 byte each, plus fp32 scales.

    llm-compressor / compressed-tensors ``FP8`` (static W8A8): one weight scale and one input scale per
    tensor; ``FP8_DYNAMIC``: one scale per output channel; DeepSeek-V3 and Qwen3-FP8 releases: one
    ``weight_scale_inv`` per 128×128 block. (Model cards: "linear layers inside transformer blocks only";
    DeepSeek-V3 README_WEIGHTS.md.)
    """
    scales = {
        "tensor": 2,
        "channel": shape.out_features,
        "block": math.ceil(shape.out_features / 128) * math.ceil(shape.in_features / 128),
    }
    if opts.fp8_scales not in scales:
        raise InvalidInputError(f"unknown FP8 scale granularity {opts.fp8_scales!r}; valid: {', '.join(scales)}")
    return shape.matrices * (shape.in_features * shape.out_features + 4 * scales[opts.fp8_scales])


def _int8_row_scale_bytes(scale_width: int) -> Callable[[LinearShape, QuantOptions], int]:
    """int8 weights plus one scale per output row: bitsandbytes LLM.int8 keeps ``SCB`` in fp32,
    EETQ and compressed-tensors W8A8-INT8 per-channel scales (counted here in fp16 / fp32)."""

    def size(shape: LinearShape, opts: QuantOptions) -> int:
        return shape.matrices * (shape.in_features * shape.out_features + scale_width * shape.out_features)

    return size


def _bnb_4bit_bytes(shape: LinearShape, opts: QuantOptions) -> int:
    """bitsandbytes Linear4bit (NF4/FP4): 4-bit codes, one absmax per 64 weights.

    Without double quantization the absmax is fp32 (0.5 extra bits per weight); with it each absmax is
    an 8-bit code, and every 256 absmax values share one fp32 second-level scale, plus a 256-entry fp32
    code book and an offset per tensor. A 16-entry fp32 quant map is stored per tensor either way.
    """
    per_matrix = shape.in_features * shape.out_features
    blocks = math.ceil(per_matrix / 64)
    size = per_matrix // 2 + 16 * 4
    if opts.double_quant:
        size += blocks + math.ceil(blocks / 256) * 4 + 256 * 4 + 4
    else:
        size += blocks * 4
    return shape.matrices * size


def _gptq_bytes(shape: LinearShape, opts: QuantOptions) -> int:
    """AutoGPTQ / GPTQModel layout: ``qweight`` int32 [in·bits/32, out], ``qzeros`` int32
    [groups, out·bits/32], ``scales`` fp16 [groups, out], ``g_idx`` int32 [in] (one group per
    ``group_size`` input rows; "-1" = one group)."""
    groups = _groups(shape, opts.group_size)
    qweight = _packed_int32_bytes(shape.in_features * shape.out_features, opts.bits)
    qzeros = groups * _packed_int32_bytes(shape.out_features, opts.bits)
    scales = groups * shape.out_features * 2
    g_idx = shape.in_features * 4
    return shape.matrices * (qweight + qzeros + scales + g_idx)


def _awq_bytes(shape: LinearShape, opts: QuantOptions) -> int:
    """AutoAWQ GEMM layout: ``qweight`` int32 [in, out·bits/32], ``qzeros`` int32 [groups, out·bits/32],
    ``scales`` fp16 [groups, out]; no g_idx (zero-point, group 128 is the standard recipe)."""
    groups = _groups(shape, opts.group_size)
    qweight = shape.in_features * _packed_int32_bytes(shape.out_features, opts.bits)
    qzeros = groups * _packed_int32_bytes(shape.out_features, opts.bits)
    scales = groups * shape.out_features * 2
    return shape.matrices * (qweight + qzeros + scales)


def _mxfp4_bytes(shape: LinearShape, opts: QuantOptions) -> int:
    """OCP MXFP4 (gpt-oss experts): 32 FP4 values (16 bytes) + one E8M0 scale byte → 4.25 bits."""
    return math.ceil(shape.n_weights / 32) * 17


@dataclass(frozen=True)
class FormatSpec:
    """How a format stores quantized linear weights and everything else."""

    linear_bytes: Callable[[LinearShape, QuantOptions], int]
    #: Bytes per value of tensors the format leaves unquantized (embeddings, head, norms, biases).
    plain_width: int = 2
    #: Which linear weights it quantizes: "linear" (all in the blocks) or "experts" (routed experts only).
    scope: str = "linear"
    label: str = ""


FORMATS: dict[CheckpointFormat, FormatSpec] = {
    CheckpointFormat.FP32: FormatSpec(_float_bytes(4), plain_width=4, label="fp32"),
    CheckpointFormat.FP16: FormatSpec(_float_bytes(2), label="fp16"),
    CheckpointFormat.BF16: FormatSpec(_float_bytes(2), label="bf16"),
    CheckpointFormat.FP8: FormatSpec(_fp8_bytes, label="fp8"),
    CheckpointFormat.INT8: FormatSpec(_int8_row_scale_bytes(4), label="int8"),
    CheckpointFormat.EETQ: FormatSpec(_int8_row_scale_bytes(2), label="int8 (eetq)"),
    CheckpointFormat.NF4: FormatSpec(_bnb_4bit_bytes, label="nf4"),
    CheckpointFormat.FP4: FormatSpec(_bnb_4bit_bytes, label="fp4"),
    CheckpointFormat.GPTQ: FormatSpec(_gptq_bytes, label="gptq"),
    CheckpointFormat.AWQ: FormatSpec(_awq_bytes, label="awq"),
    CheckpointFormat.MXFP4: FormatSpec(_mxfp4_bytes, scope="experts", label="mxfp4"),
}

#: Other names engines and model cards use: name → (format, option overrides).
FORMAT_ALIASES: dict[str, tuple[CheckpointFormat, dict]] = {
    "float32": (CheckpointFormat.FP32, {}),
    "float16": (CheckpointFormat.FP16, {}),
    "bfloat16": (CheckpointFormat.BF16, {}),
    "gptq-int4": (CheckpointFormat.GPTQ, {"bits": 4}),
    "gptq-int8": (CheckpointFormat.GPTQ, {"bits": 8}),
    "awq-int4": (CheckpointFormat.AWQ, {"bits": 4}),
    "bitsandbytes": (CheckpointFormat.INT8, {}),
    "llm.int8": (CheckpointFormat.INT8, {}),
    "bitsandbytes-nf4": (CheckpointFormat.NF4, {}),
    "bitsandbytes-fp4": (CheckpointFormat.FP4, {}),
    "bnb-4bit": (CheckpointFormat.NF4, {}),
    "fp8-dynamic": (CheckpointFormat.FP8, {"fp8_scales": "channel"}),
    "fp8-static": (CheckpointFormat.FP8, {"fp8_scales": "tensor"}),
    "fp8-block": (CheckpointFormat.FP8, {"fp8_scales": "block"}),
    "w8a8": (CheckpointFormat.INT8, {}),
}


def parse_checkpoint_format(name: str) -> tuple[CheckpointFormat, dict]:
    """A checkpoint format (and option overrides) from its name or an alias; one-line error otherwise."""
    key = str(name).strip().lower().replace("_", "-")
    if key in FORMAT_ALIASES:
        return FORMAT_ALIASES[key]
    try:
        return CheckpointFormat(key), {}
    except ValueError:
        valid = ", ".join([f.value for f in CheckpointFormat] + sorted(FORMAT_ALIASES))
        raise InvalidInputError(f"unknown checkpoint format {name!r}; valid: {valid}") from None


# --------------------------------------------------------------------------- which tensors


def linear_shape(tensor: TensorSpec) -> LinearShape | None:
    """The matmul a tensor is in the Hugging Face checkpoint, or None if it is not a block linear.

    Not linears: embeddings, the output head, norms, biases, MoE routers, gpt-oss sinks. DeepSeek's
    ``attn_k_b``/``attn_v_b`` are halves of ``kv_b_proj`` (input = kv_lora_rank), split by the GGUF
    converter; routed experts are ``experts`` matrices of one shape.
    """
    name = tensor.name
    if tensor.layer is None or not tensor.is_weight or tensor.n_dims < 2 or tensor.is_norm:
        return None
    if "ffn_gate_inp." in name or "attn_sinks." in name:
        return None
    if ".attn_k_b." in name:  # ggml (nope, kv_rank, heads): transposed half of kv_b_proj
        return LinearShape(tensor.shape[1], tensor.shape[0] * tensor.shape[2])
    if ".attn_v_b." in name:  # ggml (kv_rank, v_dim, heads)
        return LinearShape(tensor.shape[0], tensor.shape[1] * tensor.shape[2])
    if tensor.is_routed_expert:
        return LinearShape(tensor.shape[0], tensor.shape[1], tensor.shape[2])
    return LinearShape(tensor.shape[0], math.prod(tensor.shape[1:]))


def _default_options(model: ModelEntry, fmt: CheckpointFormat) -> dict:
    # Natively FP8 releases (DeepSeek-V3, Qwen3-*-FP8) use 128×128 block scales.
    if fmt == CheckpointFormat.FP8 and (model.native_quant or "").lower() == "fp8":
        return {"fp8_scales": "block"}
    return {}


def checkpoint_weights(
    model: ModelEntry,
    fmt: str,
    *,
    bits: int | None = None,
    group_size: int | None = 128,
    double_quant: bool = True,
    fp8_scales: str | None = None,
    separate_output: bool = False,
) -> WeightsBreakdown:
    """Bytes of a safetensors checkpoint of ``model`` stored in format ``fmt``.

    ``fmt``: fp32, fp16, bf16, fp8, int8 (LLM.int8 / W8A8), eetq, nf4, fp4, gptq, awq, mxfp4 or an alias
    (gptq-int8, bitsandbytes-nf4…). ``bits``/``group_size``: GPTQ and AWQ (default 4-bit, group 128;
    ``group_size=None`` or -1 for one group per column). ``double_quant``: bitsandbytes 4-bit.
    ``fp8_scales``: tensor, channel or block (default: block for natively FP8 models, else channel).
    ``separate_output``: the checkpoint holds its own 16-bit ``lm_head`` although the model ties it to
    the embedding, as AutoAWQ and Qwen's FP8 releases of tied models do (loaded, it costs a second
    vocab × hidden matrix: Qwen's transformers measurements show exactly that much).
    """
    base, overrides = parse_checkpoint_format(fmt)
    settings = {**_default_options(model, base), **overrides}
    if bits is not None:
        settings["bits"] = bits
    if fp8_scales is not None:
        settings["fp8_scales"] = fp8_scales
    opts = QuantOptions(
        bits=settings.get("bits", 4),
        group_size=group_size,
        double_quant=double_quant,
        fp8_scales=settings.get("fp8_scales", "channel"),
    )
    if base in (CheckpointFormat.GPTQ, CheckpointFormat.AWQ) and opts.bits not in (2, 3, 4, 8):
        raise InvalidInputError(f"{base.value} stores 2, 3, 4 or 8-bit weights, not {opts.bits}")
    spec = FORMATS[base]

    tensors = model_tensors(model)
    if separate_output and model.tie_word_embeddings:
        embd = next(t for t in tensors if t.name == "token_embd.weight")
        tensors.append(TensorSpec("output.weight", embd.shape, None))
    stored = []
    for tensor in tensors:
        shape = linear_shape(tensor)
        if shape is not None and (spec.scope == "linear" or tensor.is_routed_expert):
            size, dtype = spec.linear_bytes(shape, opts), _label(base, opts)
        else:
            size, dtype = tensor.n_elements * spec.plain_width, "fp32" if spec.plain_width == 4 else "bf16"
        stored.append(TensorBytes.model_construct(name=tensor.name, dtype=dtype, bytes=size, layer=tensor.layer))
    return WeightsBreakdown.from_tensors(_label(base, opts), stored, model.num_layers)


def _label(fmt: CheckpointFormat, opts: QuantOptions) -> str:
    if fmt in (CheckpointFormat.GPTQ, CheckpointFormat.AWQ):
        group = f"g{opts.group_size}" if opts.group_size and opts.group_size > 0 else "g-1"
        return f"{fmt.value}-int{opts.bits}-{group}"
    if fmt == CheckpointFormat.FP8:
        return f"fp8-{opts.fp8_scales}"
    if fmt in (CheckpointFormat.NF4, CheckpointFormat.FP4):
        return f"{fmt.value}{'-dq' if opts.double_quant else ''}"
    return FORMATS[fmt].label
