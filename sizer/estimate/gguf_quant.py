"""GGUF file sizes: llama.cpp's per-tensor quant type choice, ported from ``src/llama-quant.cpp``.

A GGUF "file type" such as Q4_K_M is not one bit width but a mix: ``llama_tensor_get_type`` gives
the output head, ``attn_v`` and ``ffn_down`` of some layers more bits, MoE and grouped-query models
other bumps, and falls back to 32-wide block types where a row length is not a multiple of 256.
Sizes follow from the tensor shapes and these rules alone, so this module ports them rule by rule
(reference: ggml-org/llama.cpp@007dbbf3 ``src/llama-quant.cpp``: ``tensor_allows_quantization``,
``llama_tensor_get_type_impl``, ``tensor_type_fallback``, ``llama_ftype_get_default_type``) and takes
block sizes from gguf-py's ``GGML_QUANT_SIZES`` rather than copying them.

Three rule revisions are modelled (:class:`QuantRules`): the current category-based one, the
name-based one of the releases before 2026 that made most published files (they differ only for fused
``attn_qkv`` (Phi-3/Phi-4) and ``attn_kv_b``), and ``2023-12``, the ``get_k_quant_type`` of llama.cpp
in December 2023 (reference: ggerganov/llama.cpp@799a1cb1, the Mixtral merge of 13 Dec 2023, root
``llama.cpp``), kept in its own section below with the tensor list that era's converter wrote (one 2-D
tensor per Mixtral expert). The file size adds an estimated header (metadata and tokenizer arrays from
the vocabulary size, see :func:`estimate_header_bytes`) and 32-byte alignment.

Not ported: user overrides (``--tensor-type``, ``--output-tensor-type``, ``--token-embedding-type``,
``--pure``, ``--prune-layers``, ``--keep-split``), the BailingMoE3 restriction of MXFP4_MOE, file types
outside :class:`FileType` (TQ1_0/TQ2_0, Q1_0/Q2_0, NVFP4), and the revisions between December 2023 and
the name-based one (or before December 2023). The Falcon branches are ported but unreachable: no catalog
family maps to LLM_ARCH_FALCON.
"""

from __future__ import annotations

import re

import math
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from pydantic import Field

from sizer.errors import InvalidInputError
from sizer.estimate.tensors import (
    TensorBytes,
    TensorSpec,
    WeightsBreakdown,
    layout_for,
    model_tensors,
)
from sizer.types import ModelEntry


class FileType(str, Enum):
    """llama.cpp file types (``llama-quantize`` names); each maps to a ``gguf.LlamaFileType`` member."""

    F32 = "F32"
    F16 = "F16"
    BF16 = "BF16"
    Q8_0 = "Q8_0"
    Q6_K = "Q6_K"
    Q5_K_M = "Q5_K_M"
    Q5_K_S = "Q5_K_S"
    Q5_1 = "Q5_1"
    Q5_0 = "Q5_0"
    Q4_K_M = "Q4_K_M"
    Q4_K_S = "Q4_K_S"
    Q4_1 = "Q4_1"
    Q4_0 = "Q4_0"
    IQ4_XS = "IQ4_XS"
    IQ4_NL = "IQ4_NL"
    Q3_K_L = "Q3_K_L"
    Q3_K_M = "Q3_K_M"
    Q3_K_S = "Q3_K_S"
    IQ3_M = "IQ3_M"
    IQ3_S = "IQ3_S"
    IQ3_XS = "IQ3_XS"
    IQ3_XXS = "IQ3_XXS"
    Q2_K = "Q2_K"
    Q2_K_S = "Q2_K_S"
    IQ2_M = "IQ2_M"
    IQ2_S = "IQ2_S"
    IQ2_XS = "IQ2_XS"
    IQ2_XXS = "IQ2_XXS"
    IQ1_M = "IQ1_M"
    IQ1_S = "IQ1_S"
    MXFP4_MOE = "MXFP4_MOE"


@dataclass(frozen=True)
class FileTypeInfo:
    """One row of the file-type table: gguf-py's LlamaFileType name and the ftype's default tensor type."""

    llama_file_type: str
    default_type: str  # llama_ftype_get_default_type()


FILE_TYPES: dict[FileType, FileTypeInfo] = {
    FileType.F32: FileTypeInfo("ALL_F32", "F32"),
    FileType.F16: FileTypeInfo("MOSTLY_F16", "F16"),
    FileType.BF16: FileTypeInfo("MOSTLY_BF16", "BF16"),
    FileType.Q8_0: FileTypeInfo("MOSTLY_Q8_0", "Q8_0"),
    FileType.Q6_K: FileTypeInfo("MOSTLY_Q6_K", "Q6_K"),
    FileType.Q5_K_M: FileTypeInfo("MOSTLY_Q5_K_M", "Q5_K"),
    FileType.Q5_K_S: FileTypeInfo("MOSTLY_Q5_K_S", "Q5_K"),
    FileType.Q5_1: FileTypeInfo("MOSTLY_Q5_1", "Q5_1"),
    FileType.Q5_0: FileTypeInfo("MOSTLY_Q5_0", "Q5_0"),
    FileType.Q4_K_M: FileTypeInfo("MOSTLY_Q4_K_M", "Q4_K"),
    FileType.Q4_K_S: FileTypeInfo("MOSTLY_Q4_K_S", "Q4_K"),
    FileType.Q4_1: FileTypeInfo("MOSTLY_Q4_1", "Q4_1"),
    FileType.Q4_0: FileTypeInfo("MOSTLY_Q4_0", "Q4_0"),
    FileType.IQ4_XS: FileTypeInfo("MOSTLY_IQ4_XS", "IQ4_XS"),
    FileType.IQ4_NL: FileTypeInfo("MOSTLY_IQ4_NL", "IQ4_NL"),
    FileType.Q3_K_L: FileTypeInfo("MOSTLY_Q3_K_L", "Q3_K"),
    FileType.Q3_K_M: FileTypeInfo("MOSTLY_Q3_K_M", "Q3_K"),
    FileType.Q3_K_S: FileTypeInfo("MOSTLY_Q3_K_S", "Q3_K"),
    FileType.IQ3_M: FileTypeInfo("MOSTLY_IQ3_M", "IQ3_S"),
    FileType.IQ3_S: FileTypeInfo("MOSTLY_IQ3_S", "IQ3_S"),
    FileType.IQ3_XS: FileTypeInfo("MOSTLY_IQ3_XS", "IQ3_S"),
    FileType.IQ3_XXS: FileTypeInfo("MOSTLY_IQ3_XXS", "IQ3_XXS"),
    FileType.Q2_K: FileTypeInfo("MOSTLY_Q2_K", "Q2_K"),
    FileType.Q2_K_S: FileTypeInfo("MOSTLY_Q2_K_S", "Q2_K"),
    FileType.IQ2_M: FileTypeInfo("MOSTLY_IQ2_M", "IQ2_S"),
    FileType.IQ2_S: FileTypeInfo("MOSTLY_IQ2_S", "IQ2_XS"),
    FileType.IQ2_XS: FileTypeInfo("MOSTLY_IQ2_XS", "IQ2_XS"),
    FileType.IQ2_XXS: FileTypeInfo("MOSTLY_IQ2_XXS", "IQ2_XXS"),
    FileType.IQ1_M: FileTypeInfo("MOSTLY_IQ1_M", "IQ1_M"),
    FileType.IQ1_S: FileTypeInfo("MOSTLY_IQ1_S", "IQ1_S"),
    FileType.MXFP4_MOE: FileTypeInfo("MOSTLY_MXFP4_MOE", "MXFP4"),
}

#: Other spellings seen in file names and model cards.
_FTYPE_ALIASES = {
    "FP16": "F16",
    "FP32": "F32",
    "ALL_F32": "F32",
    "MXFP4": "MXFP4_MOE",
    # llama-quantize aliases
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
}

#: ggml types that are not block-quantized (``ggml_is_quantized`` is false for them).
_PLAIN_TYPES = frozenset({"F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"})

GGUF_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT: every tensor's data starts on a 32-byte boundary


def parse_ftype(name: str) -> FileType:
    """A llama.cpp file type from its name (case-insensitive; 'q4_k_m', 'Q4_K_M', 'fp16' …)."""
    key = str(name).strip().upper().replace("-", "_")
    key = _FTYPE_ALIASES.get(key, key)
    try:
        return FileType(key)
    except ValueError:
        valid = ", ".join(f.value for f in FileType)
        raise InvalidInputError(f"unknown GGUF quant type {name!r}; valid: {valid}") from None


def llama_file_type_id(ftype: FileType) -> int:
    """The ``general.file_type`` integer gguf-py assigns to this file type."""
    from gguf.constants import LlamaFileType  # lazy: gguf pulls in numpy

    return int(LlamaFileType[FILE_TYPES[ftype].llama_file_type])


@lru_cache(maxsize=1)
def ggml_block_sizes() -> dict[str, tuple[int, int]]:
    """ggml type name → (weights per block, bytes per block), from gguf-py's GGML_QUANT_SIZES."""
    from gguf.constants import GGML_QUANT_SIZES  # lazy: gguf pulls in numpy

    return {qtype.name: sizes for qtype, sizes in GGML_QUANT_SIZES.items()}


def block_size(ggml_type: str) -> int:
    return ggml_block_sizes()[ggml_type][0]


def ggml_tensor_bytes(ggml_type: str, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor of this shape stored as this ggml type (``ggml_nbytes``)."""
    weights_per_block, bytes_per_block = ggml_block_sizes()[ggml_type]
    n = math.prod(shape)
    if shape[0] % weights_per_block:
        raise InvalidInputError(f"row length {shape[0]} is not a multiple of {ggml_type}'s block of {weights_per_block}")
    return n // weights_per_block * bytes_per_block


def is_quantized(ggml_type: str) -> bool:
    return ggml_type not in _PLAIN_TYPES


# --------------------------------------------------------------------------- tensor categories


class Category(str, Enum):
    """llama-quant.cpp ``tensor_category``: broad roles the rules key on (matched by name)."""

    TOKEN_EMBD = "token_embd"
    ATTENTION_Q = "attn_q"
    ATTENTION_V = "attn_v"
    ATTENTION_K = "attn_k"
    ATTENTION_QKV = "attn_qkv"
    ATTENTION_KV_B = "attn_kv_b"
    ATTENTION_OUTPUT = "attn_output"
    FFN_UP = "ffn_up"
    FFN_GATE = "ffn_gate"
    FFN_DOWN = "ffn_down"
    OUTPUT = "output"
    OTHER = "other"


#: ``tensor_get_category``: first substring that matches wins, in this order.
_CATEGORY_SUBSTRINGS: tuple[tuple[str, Category], ...] = (
    ("attn_qkv.weight", Category.ATTENTION_QKV),
    ("attn_kv_b.weight", Category.ATTENTION_KV_B),
    ("attn_v.weight", Category.ATTENTION_V),
    ("attn_k.weight", Category.ATTENTION_K),
    ("attn_q.weight", Category.ATTENTION_Q),
    ("attn_output.weight", Category.ATTENTION_OUTPUT),
    ("ffn_up", Category.FFN_UP),
    ("ffn_gate", Category.FFN_GATE),
    ("ffn_down", Category.FFN_DOWN),
)

_ATTN_V_LIKE = frozenset({Category.ATTENTION_V, Category.ATTENTION_QKV, Category.ATTENTION_KV_B})


def tensor_category(name: str) -> Category:
    if name == "output.weight":
        return Category.OUTPUT
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return Category.TOKEN_EMBD
    for needle, category in _CATEGORY_SUBSTRINGS:
        if needle in name:
            return category
    return Category.OTHER


#: ``tensor_allows_quantization``: name fragments that are never quantized (kept in their source type).
NEVER_QUANTIZED_SUBSTRINGS = (
    "_norm.weight",
    "ffn_gate_inp.weight",  # MoE router
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
)
_NEVER_QUANTIZED_NAMES = frozenset({"position_embd.weight", "token_types.weight"})


_NEVER_QUANTIZED_RE = re.compile("|".join(re.escape(fragment) for fragment in NEVER_QUANTIZED_SUBSTRINGS))


def tensor_allows_quantization(tensor: TensorSpec, *, quantize_output_tensor: bool = True) -> bool:
    """Only 2-D and 3-D ``*weight`` tensors that are not norms, routers or the listed small tensors."""
    if tensor.n_dims < 2 or not tensor.name.endswith("weight"):
        return False
    if not quantize_output_tensor and tensor.name == "output.weight":
        return False
    return _name_allows_quantization(tensor.name)


@lru_cache(maxsize=65536)
def _name_allows_quantization(name: str) -> bool:
    """Tensor names repeat across layers, models and file types: the substring scan runs once per name."""
    if name in _NEVER_QUANTIZED_NAMES:
        return False
    return _NEVER_QUANTIZED_RE.search(name) is None


#: convert_hf_to_gguf's tensors that are always written in F32 ("conditions should closely match
#: those in llama_model_quantize_internal"), as gguf-py MODEL_TENSOR names.
CONVERTER_F32_TENSORS = (
    "FFN_GATE_INP",
    "POS_EMBD",
    "TOKEN_TYPES",
    "SSM_CONV1D",
    "SHORTCONV_CONV",
    "TIME_MIX_FIRST",
    "TIME_MIX_W1",
    "TIME_MIX_W2",
    "TIME_MIX_DECAY_W1",
    "TIME_MIX_DECAY_W2",
    "TIME_MIX_LERP_FUSED",
    "POSNET_NORM1",
    "POSNET_NORM2",
    "V_ENC_EMBD_POS",
    "A_ENC_EMBD_POS",
    "ALTUP_CORRECT_COEF",
    "ALTUP_PREDICT_COEF",
)


@lru_cache(maxsize=1)
def _converter_f32_patterns() -> frozenset[str]:
    from gguf.constants import MODEL_TENSOR, TENSOR_NAMES  # lazy: gguf pulls in numpy

    return frozenset(TENSOR_NAMES[MODEL_TENSOR[k]] for k in CONVERTER_F32_TENSORS if k in MODEL_TENSOR.__members__)


def _name_pattern(name: str) -> str:
    """'blk.7.ssm_conv1d.weight' → 'blk.{bid}.ssm_conv1d' (gguf-py TENSOR_NAMES form)."""
    base = name.rsplit(".", 1)[0] if name.endswith((".weight", ".bias")) else name
    if base.startswith("blk."):
        parts = base.split(".", 2)
        base = f"blk.{{bid}}.{parts[2]}" if len(parts) == 3 else base
    return base


@lru_cache(maxsize=65536)
def _is_converter_f32(name: str) -> bool:
    return _name_pattern(name) in _converter_f32_patterns()


def source_type(tensor: TensorSpec, model: ModelEntry, float_type: str) -> str:
    """Type a tensor has in the file convert_hf_to_gguf writes (the quantizer's input).

    The converter writes 1-D tensors, norms, non-``.weight`` tensors (biases) and the tensors in
    :data:`CONVERTER_F32_TENSORS` (MoE routers, SSM convolutions…) in F32, keeps gpt-oss's natively
    MXFP4 experts as MXFP4, and everything else in the chosen float type.
    """
    if float_type == "F32" or tensor.n_dims <= 1 or tensor.is_norm or not tensor.is_weight:
        return "F32"
    if _is_converter_f32(tensor.name):
        return "F32"
    if tensor.is_routed_expert and (model.native_quant or "").lower() == "mxfp4":
        return "MXFP4"
    return float_type


# --------------------------------------------------------------------------- llama_tensor_get_type


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """First and last eighth of the layers, and every third one in between (C integer division)."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or _cmod(i_layer - n_layers // 8, 3) == 2


def _cmod(a: int, b: int) -> int:
    """C's ``%`` (truncates toward zero), unlike Python's."""
    return int(math.fmod(a, b))


def _cdiv(a: int, b: int) -> int:
    return int(a / b)


#: llama.cpp's ``LLM_TYPE_70B`` by architecture: the attn_v bump for 70B-class models keys on it.
#: llama-model.cpp: LLAMA with 80 layers and GQA (n_head != n_head_kv; Mixtral-style 8-expert models
#: get their own types), QWEN2 with 80 layers.
_LLM_TYPE_70B = {
    "llama": lambda m: m.num_layers == 80 and m.num_kv_heads != m.num_attention_heads and (m.num_experts or 0) != 8,
    "mistral": lambda m: m.num_layers == 80 and m.num_kv_heads != m.num_attention_heads,
    "qwen2": lambda m: m.num_layers == 80,
}

_F = FileType
_IQ1_IQ2 = frozenset({_F.IQ2_XXS, _F.IQ2_XS, _F.IQ1_S, _F.IQ2_S, _F.IQ2_M, _F.IQ1_M})
_OUTPUT_Q5_K = frozenset({_F.IQ2_XXS, _F.IQ2_XS, _F.IQ3_XXS, _F.IQ1_S, _F.IQ2_S, _F.IQ2_M, _F.IQ1_M})
_ATTN_OUTPUT_MOE8_Q5_K = frozenset(
    {_F.Q2_K, _F.IQ3_XS, _F.IQ3_XXS, _F.Q3_K_S, _F.Q3_K_M, _F.IQ4_NL, _F.Q4_K_S, _F.Q4_K_M, _F.IQ3_S, _F.IQ3_M, _F.IQ4_XS}
)
#: ``tensor_requires_imatrix``: target types llama-quantize refuses to make without an imatrix.
_NEEDS_IMATRIX_TYPES = frozenset({"IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"})


class QuantRules(str, Enum):
    """Which revision of llama-quant.cpp's rules to apply.

    ``current``: since PR #19770 (2026), tensors are categorized first and fused ``attn_qkv`` (Phi-3,
    Phi-4) and ``attn_kv_b`` follow the ``attn_v`` rules. ``name-based``: releases before it matched
    names in one if-chain, where only ``attn_v.weight`` got the attn_v bumps and ``attn_qkv`` had its own
    branch (Q3_K_M/Q3_K_L/IQ3_M → Q4_K, Q4_K_M → Q5_K, Q5_K_M → Q6_K on every layer). Files published
    before 2026 were made with the name-based rules; the two agree for models without fused QKV.

    ``2023-12``: ``get_k_quant_type`` of llama.cpp in December 2023 (see :func:`_get_k_quant_type_2023_12`),
    with that era's converter output: Mixtral's experts as one 2-D tensor each
    (``blk.N.ffn_gate.E.weight``), which the ``ffn_down.weight`` rule did not match, so they kept the
    base type; no 8-expert ``attn_output`` bump; Q2_K made ``ffn_gate``/``ffn_up`` (and every ``attn_v``,
    whatever the GQA) Q3_K. K-quant and legacy file types only, LLAMA architecture only, no imatrix.
    """

    CURRENT = "current"
    NAME_BASED = "name-based"
    DEC_2023 = "2023-12"


@dataclass
class QuantizeState:
    """``quantize_state_impl``: the model facts and running counters the rules read."""

    model: ModelEntry
    ftype: FileType
    has_imatrix: bool
    has_tied_embeddings: bool
    n_attention_wv: int
    n_layer_all: int
    arch_is_falcon: bool = False
    rules: QuantRules = QuantRules.CURRENT
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0
    n_fallback: int = 0
    fallbacks: list[str] = field(default_factory=list)

    @property
    def n_expert(self) -> int:
        return self.model.num_experts or 0

    @property
    def n_gqa(self) -> int:
        return self.model.num_attention_heads // self.model.num_kv_heads

    def is_attn_v_like(self, category: Category) -> bool:
        if self.rules == QuantRules.CURRENT:
            return category in _ATTN_V_LIKE
        return category == Category.ATTENTION_V

    @property
    def is_70b(self) -> bool:
        rule = _LLM_TYPE_70B.get(self.model.architecture)
        return bool(rule and rule(self.model))

    def layer_info(self, counter: int, tensor: TensorSpec) -> tuple[int, int]:
        """For MoE models the layer comes from the name (experts are not consecutive), else the counter."""
        if max(1, self.n_expert) > 1:
            if tensor.layer is None:
                raise InvalidInputError(f"Failed to determine layer for tensor {tensor.name}")
            return tensor.layer, self.n_layer_all
        return counter, self.n_layer_all


def _get_type_impl(qs: QuantizeState, new_type: str, tensor: TensorSpec, category: Category) -> str:
    """``llama_tensor_get_type_impl``, branch for branch."""
    ftype = qs.ftype
    n_expert = qs.n_expert

    if category == Category.OUTPUT or (qs.has_tied_embeddings and category == Category.TOKEN_EMBD):
        nx = tensor.shape[0]
        if ftype == _F.MXFP4_MOE or qs.arch_is_falcon or nx % block_size(new_type) != 0:
            new_type = "Q8_0"
        elif ftype in _OUTPUT_Q5_K:
            new_type = "Q5_K"
        elif new_type != "Q8_0":
            new_type = "Q6_K"
    elif ftype == _F.MXFP4_MOE:
        new_type = "MXFP4" if tensor.n_dims >= 3 and tensor.shape[2] > 1 else "Q8_0"
    elif category == Category.TOKEN_EMBD:
        if ftype in (_F.IQ2_XXS, _F.IQ2_XS, _F.IQ1_S, _F.IQ1_M):
            new_type = "Q2_K"
        elif ftype in (_F.IQ2_S, _F.IQ2_M, _F.IQ3_XXS):
            new_type = "IQ3_S"
    elif ftype in _IQ1_IQ2:
        if qs.is_attn_v_like(category):
            if qs.n_gqa >= 4 or n_expert >= 4:
                new_type = "Q4_K"
            else:
                new_type = "IQ3_S" if ftype in (_F.IQ2_S, _F.IQ2_M) else "Q2_K"
            qs.i_attention_wv += 1
        elif n_expert == 8 and category == Category.ATTENTION_K:
            new_type = "Q4_K"
        elif category == Category.FFN_DOWN:
            if qs.i_ffn_down < _cdiv(qs.n_layer_all, 8):
                new_type = "IQ3_S" if ftype in (_F.IQ2_S, _F.IQ2_M) else "Q2_K"
            qs.i_ffn_down += 1
        elif category == Category.ATTENTION_OUTPUT:
            if n_expert == 8:
                new_type = "Q5_K"
            elif ftype in (_F.IQ1_S, _F.IQ1_M):
                new_type = "IQ2_XXS"
            elif ftype in (_F.IQ2_S, _F.IQ2_M):
                new_type = "IQ3_S"
    elif qs.is_attn_v_like(category):
        if ftype == _F.Q2_K:
            new_type = "Q4_K" if qs.n_gqa >= 4 else "Q3_K"
        elif ftype == _F.Q2_K_S and qs.n_gqa >= 4:
            new_type = "Q4_K"
        elif ftype == _F.IQ3_XXS:
            new_type = "Q4_K" if qs.n_gqa >= 4 else ("IQ3_S" if not qs.has_imatrix else "IQ3_XXS")
        elif ftype in (_F.IQ3_XS, _F.IQ3_S) and qs.n_gqa >= 4 or ftype == _F.IQ3_M:
            new_type = "Q4_K"
        elif ftype == _F.Q3_K_M:
            new_type = "Q5_K" if qs.i_attention_wv < 2 else "Q4_K"
        elif ftype == _F.Q3_K_L or ftype in (_F.IQ4_NL, _F.IQ4_XS) and qs.n_gqa >= 4:
            new_type = "Q5_K"
        elif ftype in (_F.Q4_K_M, _F.Q5_K_M) and use_more_bits(qs.i_attention_wv, qs.n_attention_wv):
            new_type = "Q6_K"
        elif ftype == _F.Q4_K_S and qs.i_attention_wv < 4:
            new_type = "Q5_K"
        if qs.is_70b and new_type in ("Q3_K", "Q4_K"):
            # 70B: 8 heads share each attn_v, so the tensor is 8x smaller than attn_q; more bits are cheap.
            new_type = "Q5_K"
        if n_expert == 8:
            new_type = "Q8_0"
        qs.i_attention_wv += 1
    elif category == Category.ATTENTION_K:
        if n_expert == 8:
            new_type = "Q8_0"
        elif ftype == _F.IQ3_XS:
            new_type = "IQ3_XXS"
        elif ftype == _F.IQ3_XXS:
            new_type = "IQ2_S"
    elif category == Category.ATTENTION_Q:
        if ftype == _F.IQ3_XS:
            new_type = "IQ3_XXS"
        elif ftype == _F.IQ3_XXS:
            new_type = "IQ2_S"
    elif category == Category.FFN_DOWN:
        i_layer, n_layer = qs.layer_info(qs.i_ffn_down, tensor)
        eighth = _cdiv(n_layer, 8)
        if ftype == _F.Q2_K:
            new_type = "Q3_K"
        elif ftype == _F.Q2_K_S:
            if i_layer < eighth:
                new_type = "Q4_K"
        elif ftype == _F.IQ3_XXS and not qs.has_imatrix:
            new_type = "Q4_K" if i_layer < eighth else "Q3_K"
        elif ftype == _F.Q3_K_M:
            if i_layer < _cdiv(n_layer, 16):
                new_type = "Q5_K"
            elif not qs.arch_is_falcon or use_more_bits(i_layer, n_layer):
                new_type = "Q4_K"
            else:
                new_type = "Q3_K"
        elif ftype == _F.IQ3_M and (i_layer < eighth or (n_expert == 8 and use_more_bits(i_layer, n_layer))):
            new_type = "Q4_K"
        elif ftype == _F.Q3_K_L:
            new_type = "Q4_K" if qs.arch_is_falcon else "Q5_K"
        elif ftype == _F.Q4_K_M:
            if qs.arch_is_falcon:
                if i_layer < _cdiv(n_layer, 16):
                    new_type = "Q6_K"
                elif use_more_bits(i_layer, n_layer):
                    new_type = "Q5_K"
                else:
                    new_type = "Q4_K"
            elif use_more_bits(i_layer, n_layer):
                new_type = "Q6_K"
        elif i_layer < eighth and ftype in (_F.IQ4_NL, _F.IQ4_XS) and not qs.has_imatrix:
            new_type = "Q5_K"
        elif ftype == _F.Q5_K_M and use_more_bits(i_layer, n_layer):
            new_type = "Q6_K"
        elif ftype == _F.Q4_K_S and not qs.arch_is_falcon and i_layer < eighth:
            new_type = "Q5_K"
        elif ftype in (_F.Q4_0, _F.Q5_0) and qs.has_imatrix and i_layer < eighth:
            # Guard against craziness in the first ffn_down layers; only with an imatrix.
            new_type = "Q4_1" if ftype == _F.Q4_0 else "Q5_1"
        qs.i_ffn_down += 1
    elif category == Category.ATTENTION_OUTPUT:
        if not qs.arch_is_falcon:
            if n_expert == 8:
                if ftype in _ATTN_OUTPUT_MOE8_Q5_K:
                    new_type = "Q5_K"
            elif ftype == _F.Q2_K:
                new_type = "Q3_K"
            elif ftype == _F.IQ3_XXS:
                new_type = "IQ3_S"
            elif ftype == _F.Q3_K_M:
                new_type = "Q4_K"
            elif ftype == _F.Q3_K_L:
                new_type = "Q5_K"
            elif ftype == _F.IQ3_M:
                new_type = "Q4_K"
        elif ftype == _F.Q3_K_L:
            new_type = "Q4_K"
    elif category == Category.ATTENTION_QKV:
        # Reached only with the name-based rules (current ones treat attn_qkv as attn_v-like, above).
        if ftype in (_F.Q3_K_M, _F.Q3_K_L, _F.IQ3_M):
            new_type = "Q4_K"
        elif ftype == _F.Q4_K_M:
            new_type = "Q5_K"
        elif ftype == _F.Q5_K_M:
            new_type = "Q6_K"
    elif category == Category.FFN_GATE:
        i_layer, n_layer = qs.layer_info(qs.i_ffn_gate, tensor)
        if ftype == _F.IQ3_XS and _cdiv(n_layer, 8) <= i_layer < _cdiv(7 * n_layer, 8):
            new_type = "IQ3_XXS"
        qs.i_ffn_gate += 1
    elif category == Category.FFN_UP:
        i_layer, n_layer = qs.layer_info(qs.i_ffn_up, tensor)
        if ftype == _F.IQ3_XS and _cdiv(n_layer, 8) <= i_layer < _cdiv(7 * n_layer, 8):
            new_type = "IQ3_XXS"
        qs.i_ffn_up += 1
    return new_type


#: ``tensor_type_fallback``: 32-wide replacement when a row is not a multiple of the type's block.
FALLBACK_TYPES: dict[str, str] = {
    "IQ1_S": "IQ4_NL",
    "IQ1_M": "IQ4_NL",
    "IQ2_XXS": "IQ4_NL",
    "IQ2_XS": "IQ4_NL",
    "IQ2_S": "IQ4_NL",
    "IQ3_XXS": "IQ4_NL",
    "IQ3_S": "IQ4_NL",
    "IQ4_XS": "IQ4_NL",
    "Q2_0": "Q4_0",
    "Q2_K": "Q4_0",
    "Q3_K": "Q4_0",
    "TQ1_0": "Q4_0",
    "TQ2_0": "Q4_0",
    "Q4_K": "Q5_0",
    "Q5_K": "Q5_1",
    "Q6_K": "Q8_0",
}


def _fallback(qs: QuantizeState, tensor: TensorSpec, target: str) -> str:
    ncols = tensor.shape[0]
    if ncols % block_size(target) == 0:
        return target
    qs.n_fallback += 1
    qs.fallbacks.append(tensor.name)
    if target not in FALLBACK_TYPES:
        raise InvalidInputError(f"no tensor type fallback is defined for type {target}")
    replacement = FALLBACK_TYPES[target]
    if ncols % block_size(replacement) != 0:
        replacement = "F16"  # "must use F16 due to unusual shape"
    return replacement


def llama_tensor_get_type(qs: QuantizeState, tensor: TensorSpec, default_type: str, source: str) -> str:
    """The type llama-quantize writes this tensor as (without user overrides or --pure)."""
    if not tensor_allows_quantization(tensor):
        return source
    new_type = default_type
    if is_quantized(default_type):
        new_type = _get_type_impl(qs, new_type, tensor, tensor_category(tensor.name))
        new_type = _fallback(qs, tensor, new_type)
    return new_type


def _processing_order(tensors: list[TensorSpec]) -> list[TensorSpec]:
    """llama_model_loader's ``weights_map`` order: non-layer tensors first, then by layer, then by name."""
    return sorted(tensors, key=lambda t: (-1 if t.layer is None else t.layer, t.name))


# --------------------------------------------------------------------------- llama.cpp of December 2023
#
# ``get_k_quant_type`` and its caller in the root ``llama.cpp`` of ggerganov/llama.cpp@799a1cb1 (13 Dec
# 2023, the Mixtral merge), ported branch for branch and kept apart from the port above: the file types
# it accepted, the tensors it quantized, its rules, its K-quant fallbacks, and the tensor list of that
# era's convert.py (Mixtral experts as one 2-D tensor each).

#: ``llama_model_quantize_internal``'s switch: any other file type was "invalid output file type".
FTYPES_2023_12 = frozenset(
    {_F.Q4_0, _F.Q4_1, _F.Q5_0, _F.Q5_1, _F.Q8_0, _F.F16, _F.F32, _F.Q2_K, _F.Q3_K_S, _F.Q3_K_M, _F.Q3_K_L,
     _F.Q4_K_S, _F.Q4_K_M, _F.Q5_K_S, _F.Q5_K_M, _F.Q6_K}
)

#: ``convert_incompatible_tensor``: a K-quant whose row length is not a multiple of QK_K (256).
K_FALLBACK_2023_12 = {"Q2_K": "Q4_0", "Q3_K": "Q4_1", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}

#: ``LLM_TENSOR_FFN_*_EXP`` names of the time (``blk.%d.ffn_gate.%d``), for gguf-py's ``ffn_*_exps``.
_PER_EXPERT_NAMES_2023_12 = {"ffn_gate_exps": "ffn_gate", "ffn_up_exps": "ffn_up", "ffn_down_exps": "ffn_down"}
_QK_K = 256


def tensors_2023_12(model: ModelEntry) -> list[TensorSpec]:
    """The tensors convert.py of December 2023 wrote: each 3-D ``ffn_*_exps`` as one 2-D tensor per expert.

    ``blk.N.ffn_gate_exps.weight`` of shape (hidden, width, experts) becomes ``blk.N.ffn_gate.E.weight``
    of shape (hidden, width) for E = 0 … experts-1 (llama.cpp merged them into 3-D tensors in 2024).
    Only the LLAMA architecture (Llama, Mistral, Mixtral) is accepted: the later families the catalog
    holds had no converter then.
    """
    if layout_for(model).gguf_arch != "LLAMA":
        raise InvalidInputError(
            f"the 2023-12 llama.cpp rules are ported for the LLAMA architecture (Llama, Mistral, Mixtral) only, "
            f"not {model.architecture!r}"
        )
    tensors = []
    for tensor in model_tensors(model):
        base, _, suffix = tensor.name.rpartition(".")
        prefix, _, kind = base.rpartition(".")
        if kind not in _PER_EXPERT_NAMES_2023_12:
            tensors.append(tensor)
            continue
        *shape, experts = tensor.shape
        for expert in range(experts):
            name = f"{prefix}.{_PER_EXPERT_NAMES_2023_12[kind]}.{expert}.{suffix}"
            tensors.append(TensorSpec(name, tuple(shape), tensor.layer))
    return tensors


def _source_type_2023_12(tensor: TensorSpec, float_type: str) -> str:
    """convert.py ``type_for_tensor``: 1-D tensors in F32, every other one (the MoE router too) in the out type."""
    return "F32" if float_type == "F32" or tensor.n_dims < 2 else float_type


def _quantizes_2023_12(tensor: TensorSpec) -> bool:
    """``llama_model_quantize_internal``: 2-D tensors whose name ends in 'weight', except expert gating."""
    return tensor.name.endswith("weight") and tensor.n_dims == 2 and "ffn_gate_inp.weight" not in tensor.name


@dataclass
class QuantizeState2023:
    """``quantize_state_internal`` of December 2023: two counters of ``attn_v`` and ``ffn_down`` tensors."""

    model: ModelEntry
    ftype: FileType
    n_attention_wv: int  # names containing attn_v.weight or attn_qkv.weight
    n_feed_forward_w2: int  # names containing ffn_down.weight (not the per-expert blk.N.ffn_down.E.weight)
    arch_is_falcon: bool = False
    i_attention_wv: int = 0
    i_feed_forward_w2: int = 0
    n_fallback: int = 0

    @property
    def is_70b(self) -> bool:
        """``llm_load_hparams``, LLM_ARCH_LLAMA: 80 layers with fewer KV heads than heads is MODEL_70B."""
        m = self.model
        return m.num_layers == 80 and m.num_attention_heads != m.num_kv_heads


def _get_k_quant_type_2023_12(qs: QuantizeState2023, new_type: str, tensor: TensorSpec) -> str:
    """``get_k_quant_type`` of ggerganov/llama.cpp@799a1cb1, branch for branch (QK_K = 256 builds).

    Matched by name substring as then: the per-expert ``blk.N.ffn_down.E.weight`` / ``ffn_gate.E.weight``
    / ``ffn_up.E.weight`` contain neither ``ffn_down.weight`` nor ``ffn_gate.weight`` nor
    ``ffn_up.weight``, so Mixtral's experts kept the base type in every file type.
    """
    name, ftype = tensor.name, qs.ftype
    n_expert = qs.model.num_experts or 0
    if name == "output.weight":
        nx = tensor.shape[0]
        if qs.arch_is_falcon or nx % _QK_K != 0:
            new_type = "Q8_0"
        elif new_type != "Q8_0":
            new_type = "Q6_K"
    elif "attn_v.weight" in name:
        if ftype == _F.Q2_K:
            new_type = "Q3_K"
        elif ftype == _F.Q3_K_M:
            new_type = "Q5_K" if qs.i_attention_wv < 2 else "Q4_K"
        elif ftype == _F.Q3_K_L:
            new_type = "Q5_K"
        elif ftype in (_F.Q4_K_M, _F.Q5_K_M) and use_more_bits(qs.i_attention_wv, qs.n_attention_wv):
            new_type = "Q6_K"
        elif ftype == _F.Q4_K_S and qs.i_attention_wv < 4:
            new_type = "Q5_K"
        if qs.is_70b and new_type in ("Q3_K", "Q4_K"):
            new_type = "Q5_K"
        if n_expert == 8:
            new_type = "Q8_0"  # "for the 8-expert model, bumping this to Q8_0 trades just ~128MB"
        qs.i_attention_wv += 1
    elif "attn_k.weight" in name:
        if n_expert == 8:
            new_type = "Q8_0"
    elif "ffn_down.weight" in name:
        i, n = qs.i_feed_forward_w2, qs.n_feed_forward_w2
        if ftype == _F.Q2_K:
            new_type = "Q3_K"
        elif ftype == _F.Q3_K_M:
            if i < 2:
                new_type = "Q5_K"
            elif not qs.arch_is_falcon or use_more_bits(i, n):
                new_type = "Q4_K"
            else:
                new_type = "Q3_K"
        elif ftype == _F.Q3_K_L:
            new_type = "Q4_K" if qs.arch_is_falcon else "Q5_K"
        elif ftype == _F.Q4_K_M:
            if qs.arch_is_falcon:
                new_type = "Q6_K" if i < 2 else ("Q5_K" if use_more_bits(i, n) else "Q4_K")
            elif use_more_bits(i, n):
                new_type = "Q6_K"
        elif ftype == _F.Q5_K_M and use_more_bits(i, n):
            new_type = "Q6_K"
        elif ftype == _F.Q4_K_S and not qs.arch_is_falcon and i < 4:
            new_type = "Q5_K"
        qs.i_feed_forward_w2 += 1
    elif "attn_output.weight" in name:
        if not qs.arch_is_falcon:
            if ftype == _F.Q2_K:
                new_type = "Q3_K"
            elif ftype == _F.Q3_K_M:
                new_type = "Q4_K"
            elif ftype == _F.Q3_K_L:
                new_type = "Q5_K"
        elif ftype == _F.Q3_K_L:
            new_type = "Q4_K"
    elif "attn_qkv.weight" in name:
        if ftype in (_F.Q3_K_M, _F.Q3_K_L):
            new_type = "Q4_K"
        elif ftype == _F.Q4_K_M:
            new_type = "Q5_K"
        elif ftype == _F.Q5_K_M:
            new_type = "Q6_K"
    elif ("ffn_gate.weight" in name or "ffn_up.weight" in name) and ftype == _F.Q2_K:
        new_type = "Q3_K"  # removed in January 2024 ("IK: let's remove this", now commented out)

    if new_type in K_FALLBACK_2023_12 and tensor.shape[0] % _QK_K != 0:
        new_type = K_FALLBACK_2023_12[new_type]
        qs.n_fallback += 1
    return new_type


def _choose_types_2023_12(
    model: ModelEntry, ftype: FileType, tensors: list[TensorSpec], float_type: str
) -> tuple[list[tuple[TensorSpec, str]], QuantizeState2023]:
    """Types of the December-2023 file, tensor by tensor in the converter's order.

    The two counters select a fixed number of ``attn_v`` / ``ffn_down`` tensors (the first two, those
    ``use_more_bits`` picks …); every layer's tensors of one kind share a shape, so the sizes do not
    depend on which layer each index falls on.
    """
    qs = QuantizeState2023(
        model=model,
        ftype=ftype,
        n_attention_wv=sum(1 for t in tensors if "attn_v.weight" in t.name or "attn_qkv.weight" in t.name),
        n_feed_forward_w2=sum(1 for t in tensors if "ffn_down.weight" in t.name),
    )
    default_type = FILE_TYPES[ftype].default_type
    chosen = []
    for tensor in tensors:
        if ftype in (_F.F32, _F.F16):
            target = _source_type_2023_12(tensor, default_type)  # what convert.py writes (--outtype f32 / f16)
        elif _quantizes_2023_12(tensor):
            target = _get_k_quant_type_2023_12(qs, default_type, tensor)
        else:
            target = _source_type_2023_12(tensor, float_type)  # kept as converted
        chosen.append((tensor, target))
    return chosen, qs


# --------------------------------------------------------------------------- GGUF header estimate


@dataclass(frozen=True)
class TokenizerShape:
    """What the tokenizer arrays of a GGUF header hold, estimated from the vocabulary size.

    gguf-py writes every token string (8-byte length + UTF-8 text) and a 4-byte token type; SentencePiece
    vocabularies add a 4-byte score per token, byte-level BPE vocabularies a list of merges ("a b"
    strings about one token long). Mean string lengths are what exact-size files show: about 9 bytes
    for byte-level BPE tokens (Llama 3 and Qwen2 files agree within 0.2 byte; their byte-to-unicode
    mapping makes non-ASCII bytes 2 bytes long) and 6–7.5 for SentencePiece ones (Mistral 32k, Gemma 256k).
    """

    spm: bool
    tokens: int
    merges: int
    mean_token_bytes: float

    def array_bytes(self) -> int:
        per_token = 8 + self.mean_token_bytes + 4 + (4 if self.spm else 0)
        per_merge = 8 + self.mean_token_bytes + 1
        return int(self.tokens * per_token + self.merges * per_merge)


#: Gemma is SentencePiece at 256k tokens; elsewhere vocabularies up to 50k tokens are SentencePiece
#: (Llama 2, Mistral 7B, Phi-3) and larger ones byte-level BPE (Llama 3, Qwen, DeepSeek, gpt-oss, Tekken).
SPM_ARCHITECTURES = frozenset({"gemma2", "gemma3", "gemma3_text"})
SPM_MAX_VOCAB = 50_000
SPM_MEAN_TOKEN_BYTES = 7.0
BPE_MEAN_TOKEN_BYTES = 9.0
#: BPE merge lists are about one per token, except Llama 3's tiktoken-derived one (280,147 merges).
KNOWN_MERGE_COUNTS = {128256: 280_147}

#: General, architecture and chat-template keys besides the tokenizer arrays: a few KiB.
BASE_METADATA_BYTES = 16 * 1024


def tokenizer_shape(model: ModelEntry) -> TokenizerShape:
    spm = model.architecture in SPM_ARCHITECTURES or model.vocab_size <= SPM_MAX_VOCAB
    if spm:
        return TokenizerShape(True, model.vocab_size, 0, SPM_MEAN_TOKEN_BYTES)
    merges = KNOWN_MERGE_COUNTS.get(model.vocab_size, model.vocab_size)
    return TokenizerShape(False, model.vocab_size, merges, BPE_MEAN_TOKEN_BYTES)


def estimate_header_bytes(model: ModelEntry, tensors: list[TensorSpec]) -> int:
    """Estimated GGUF header: metadata keys, tokenizer arrays, one tensor-info record per tensor.

    An estimate from the vocabulary size (see :class:`TokenizerShape`), not a read of the real
    tokenizer; on files whose exact size is known it is within about 0.6 MB (≈0.1% of a 1B Q4 file).
    """
    tensor_infos = sum(8 + len(t.name) + 4 + 8 * t.n_dims + 4 + 8 for t in tensors)
    header = 24 + BASE_METADATA_BYTES + tokenizer_shape(model).array_bytes() + tensor_infos
    return _align(header)


def _align(n: int, alignment: int = GGUF_ALIGNMENT) -> int:
    return (n + alignment - 1) // alignment * alignment


# --------------------------------------------------------------------------- public API


class GgufWeights(WeightsBreakdown):
    """Per-tensor types and bytes of a GGUF file llama-quantize would write for a model and file type.

    ``total_bytes`` is the tensor data (what an engine loads as weights); ``file_bytes`` adds the
    estimated header (metadata, tokenizer, tensor index) and the 32-byte alignment padding.
    """

    ftype: str
    imatrix: bool = Field(description="Whether the rules ran as with an importance matrix (changes a few IQ/Q4_0 choices).")
    rules: str = Field(description="llama.cpp rules revision applied: current, name-based or 2023-12.")
    header_bytes: int = Field(description="Estimated header: metadata, tokenizer arrays, tensor infos (see estimate_header_bytes).")
    file_bytes: int
    fallback_tensors: int = Field(description="Tensors whose row length forced a 32-wide fallback type.")

    def type_counts(self) -> dict[str, int]:
        """How many tensors use each ggml type."""
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.dtype] = counts.get(t.dtype, 0) + 1
        return counts


def _requires_imatrix(chosen: list[tuple[TensorSpec, str]], ftype: FileType) -> bool:
    """``tensor_requires_imatrix``: IQ1/IQ2/IQ3_XXS targets, and Q2_K inside a Q2_K_S file."""
    for tensor, target in chosen:
        if tensor.name in ("token_embd.weight", "output.weight") or not tensor_allows_quantization(tensor):
            continue
        if target in _NEEDS_IMATRIX_TYPES or (target == "Q2_K" and ftype == FileType.Q2_K_S):
            return True
    return False


def _choose_types(
    model: ModelEntry, ftype: FileType, tensors: list[TensorSpec], imatrix: bool, float_type: str, rules: QuantRules
) -> tuple[list[tuple[TensorSpec, str]], QuantizeState]:
    info = FILE_TYPES[ftype]
    qs = QuantizeState(
        model=model,
        ftype=ftype,
        has_imatrix=imatrix,
        has_tied_embeddings=not any(t.name == "output.weight" for t in tensors),
        n_attention_wv=sum(1 for t in tensors if tensor_category(t.name) in _ATTN_V_LIKE),
        n_layer_all=model.num_layers,
        rules=rules,
    )
    chosen = []
    for tensor in _processing_order(tensors):
        source = source_type(tensor, model, float_type)
        if ftype in (FileType.F32, FileType.F16, FileType.BF16):
            # A float file is what convert_hf_to_gguf writes; natively MXFP4 experts stay MXFP4.
            target = source if source in ("F32", "MXFP4") else info.default_type
        elif source == "MXFP4":
            # gpt-oss's natively MXFP4 experts stay MXFP4 in the published files of every type (bartowski's
            # and unsloth's pages say so, and their sizes barely differ between types).  Stock
            # llama-quantize would not make such a file by itself: it refuses to requantize MXFP4
            # ("requantizing from type mxfp4 is disabled", llama-quant.cpp), so they are made with
            # per-tensor type overrides; with --allow-requantize the experts would take the file type.
            target = "MXFP4"
        else:
            target = llama_tensor_get_type(qs, tensor, info.default_type, source)
        chosen.append((tensor, target))
    return chosen, qs


def gguf_weights(
    model: ModelEntry,
    ftype: str | FileType,
    *,
    imatrix: bool | None = None,
    source_float_type: str = "F16",
    separate_output: bool = False,
    rules: str | QuantRules = QuantRules.CURRENT,
) -> GgufWeights:
    """Bytes of the GGUF file ``llama-quantize`` makes from ``model`` at file type ``ftype``.

    ``imatrix``: None = as llama-quantize requires (on for file types whose tensors cannot be made
    without one: IQ1/IQ2/IQ3_XXS/IQ3_XS, Q2_K_S), else as given; most community uploads (bartowski,
    unsloth) use one. ``source_float_type``: the type of the converted file the quantizer starts from
    (F16 or BF16; both 2 bytes). ``separate_output``: the file stores an output head even though the
    model ties it (some official Qwen2.5 GGUFs do). ``rules``: ``current``, ``name-based`` (the
    llama.cpp releases before 2026 that made most published files) or ``2023-12`` (llama.cpp of
    December 2023, with that era's per-expert MoE tensors); see :class:`QuantRules`.
    """
    ftype = parse_ftype(ftype) if not isinstance(ftype, FileType) else ftype
    try:
        rules = QuantRules(rules)
    except ValueError:
        valid = ", ".join(r.value for r in QuantRules)
        raise InvalidInputError(f"unknown llama.cpp rules revision {rules!r}; valid: {valid}") from None
    if rules == QuantRules.DEC_2023:
        if ftype not in FTYPES_2023_12:
            valid = ", ".join(f.value for f in FileType if f in FTYPES_2023_12)
            raise InvalidInputError(f"llama.cpp of December 2023 had no file type {ftype.value}; it had: {valid}")
        if imatrix:
            raise InvalidInputError("llama.cpp of December 2023 had no importance matrix (imatrix came in January 2024)")
        imatrix = False
        tensors = tensors_2023_12(model)
    else:
        tensors = model_tensors(model)
    if separate_output and model.tie_word_embeddings:
        embd = next(t for t in tensors if t.name == "token_embd.weight")
        tensors.append(TensorSpec("output.weight", embd.shape, None))

    if rules == QuantRules.DEC_2023:
        chosen, qs = _choose_types_2023_12(model, ftype, tensors, source_float_type)
    else:
        chosen, qs = _choose_types(model, ftype, tensors, bool(imatrix), source_float_type, rules)
        if imatrix is None and _requires_imatrix(chosen, ftype):
            imatrix = True
            chosen, qs = _choose_types(model, ftype, tensors, True, source_float_type, rules)

    by_name = {t.name: target for t, target in chosen}
    stored = [
        TensorBytes.model_construct(name=t.name, dtype=by_name[t.name], bytes=ggml_tensor_bytes(by_name[t.name], t.shape), layer=t.layer)
        for t in tensors
    ]
    header = estimate_header_bytes(model, tensors)
    file_bytes = header + sum(_align(t.bytes) for t in stored)
    return GgufWeights.from_tensors(
        ftype.value,
        stored,
        model.num_layers,
        ftype=ftype.value,
        imatrix=bool(imatrix),
        rules=rules.value,
        header_bytes=header,
        file_bytes=file_bytes,
        fallback_tensors=qs.n_fallback,
    )
