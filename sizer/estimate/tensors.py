"""The weight tensors of a model, named and shaped as llama.cpp's converter writes them to GGUF.

Every weight estimate (GGUF quant mixes, GPTQ/AWQ/FP8/bitsandbytes checkpoints, parameter counts)
starts from this one list, so the formats differ only in how they store each tensor. Names follow
``gguf-py`` (``gguf.constants.TENSOR_NAMES``, e.g. ``blk.3.attn_v.weight``) because llama.cpp's
quantizer chooses types by name; shapes are in ggml order: ``ne0`` (the row length, i.e. the input
features of a matmul weight) first, experts last for 3-D MoE tensors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sizer.types import ModelEntry


@dataclass(frozen=True)
class TensorSpec:
    """One stored tensor: llama.cpp GGUF name, shape in ggml order (ne0 first), layer or None."""

    name: str
    shape: tuple[int, ...]
    layer: int | None

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def n_dims(self) -> int:
        return len(self.shape)

    @property
    def row_length(self) -> int:
        """ne0: the length of one row, which every block quant must divide."""
        return self.shape[0]

    @property
    def is_weight(self) -> bool:
        return self.name.endswith(".weight")

    @property
    def is_routed_expert(self) -> bool:
        """A 3-D tensor holding every routed expert of one layer (``ffn_*_exps``)."""
        return "_exps." in self.name

    @property
    def is_norm(self) -> bool:
        return self.name.endswith("_norm.weight")


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class GgufLayout:
    """How llama.cpp's converter lays out one Hugging Face ``model_type`` (beyond ModelEntry's flags)."""

    #: ``gguf.MODEL_ARCH`` member the converter writes (its MODEL_TENSORS lists the allowed tensors).
    gguf_arch: str
    #: Per-layer norm vectors of width hidden, in llama.cpp names (ModelEntry.norm_per_layer counts them).
    norms: tuple[str, ...] = ("ATTN_NORM", "FFN_NORM")
    fused_qkv: bool = False          # Phi-3: one attn_qkv instead of q, k, v
    fused_gate_up: bool = False      # Phi-3: ffn_up holds gate and up (2 × intermediate)
    attn_output_bias: bool = False   # gpt-oss: o_proj has a bias as well as q/k/v
    router_bias: bool = False        # gpt-oss: the router has a bias
    expert_score_bias: bool = False  # DeepSeek-V3: e_score_correction_bias → exp_probs_b
    attn_sinks: bool = False         # gpt-oss: one learned sink logit per head
    qk_norm_weights: bool = True     # Llama 4's QK norm is a weightless L2 norm
    gated_query: bool = False        # Qwen3-Next: attn_q also produces an output gate (2 × width)
    shared_expert_gate: bool = False  # Qwen3-Next: a sigmoid gate vector on the shared expert
    #: Layers of kind 'L' (ModelEntry.layer_pattern) hold a Gated DeltaNet instead of attention.
    linear_attention: str | None = None


_GEMMA_NORMS = ("ATTN_NORM", "ATTN_POST_NORM", "FFN_NORM", "FFN_POST_NORM")

LAYOUTS: dict[str, GgufLayout] = {
    "llama": GgufLayout("LLAMA"),
    "mistral": GgufLayout("LLAMA"),       # convert_hf_to_gguf maps MistralForCausalLM to LLAMA
    "mixtral": GgufLayout("LLAMA"),       # ... and MixtralForCausalLM too (3-D expert tensors)
    "qwen2": GgufLayout("QWEN2"),
    "qwen3": GgufLayout("QWEN3"),
    "qwen3_moe": GgufLayout("QWEN3MOE"),
    "gemma2": GgufLayout("GEMMA2", norms=_GEMMA_NORMS),
    "gemma3_text": GgufLayout("GEMMA3", norms=_GEMMA_NORMS),
    "gemma3": GgufLayout("GEMMA3", norms=_GEMMA_NORMS),
    "phi3": GgufLayout("PHI3", fused_qkv=True, fused_gate_up=True),
    "deepseek_v3": GgufLayout("DEEPSEEK2", expert_score_bias=True),
    "gpt_oss": GgufLayout(
        "GPT_OSS", norms=("ATTN_NORM", "ATTN_POST_NORM"), attn_output_bias=True, router_bias=True, attn_sinks=True
    ),
    "llama4_text": GgufLayout("LLAMA4", qk_norm_weights=False),
    "llama4": GgufLayout("LLAMA4", qk_norm_weights=False),
    "qwen3_next": GgufLayout(
        "QWEN3NEXT",
        norms=("ATTN_NORM", "ATTN_POST_NORM"),
        gated_query=True,
        shared_expert_gate=True,
        linear_attention="gated_deltanet",
    ),
}

#: Norm names for a ModelEntry whose norm_per_layer disagrees with its layout (first n are used).
GENERIC_NORMS = ("ATTN_NORM", "FFN_NORM", "ATTN_POST_NORM", "FFN_POST_NORM")

#: Architectures not in LAYOUTS are laid out like Llama from ModelEntry's flags alone.
GENERIC_LAYOUT = GgufLayout("LLAMA")


@lru_cache(maxsize=1)
def _tensor_name_formats() -> dict[str, str]:
    """``MODEL_TENSOR`` member name → name format (``blk.{bid}.attn_q``), read from gguf-py."""
    from gguf.constants import MODEL_TENSOR, TENSOR_NAMES  # lazy: gguf pulls in numpy

    return {member.name: TENSOR_NAMES[member] for member in MODEL_TENSOR if member in TENSOR_NAMES}


def tensor_name(kind: str, layer: int | None = None, suffix: str = "weight") -> str:
    """GGUF name of a tensor kind (a ``gguf.MODEL_TENSOR`` member name) in a layer."""
    base = _tensor_name_formats()[kind]
    return f"{base.format(bid=layer)}.{suffix}" if layer is not None else f"{base}.{suffix}"


def layout_for(model: ModelEntry) -> GgufLayout:
    return LAYOUTS.get(model.architecture, GENERIC_LAYOUT)


# --------------------------------------------------------------------------- building the list


def _attention(model: ModelEntry, layout: GgufLayout, il: int) -> Iterator[TensorSpec]:
    hidden = model.hidden_size
    q_width = model.num_attention_heads * model.head_dim
    kv_width = model.num_kv_heads * model.head_dim

    def t(kind: str, shape: tuple[int, ...], suffix: str = "weight") -> TensorSpec:
        return TensorSpec(tensor_name(kind, il, suffix), shape, il)

    if model.is_mla:
        # DeepSeek-V2/V3 multi-head latent attention; kv_b is split into k_b (transposed) and v_b as
        # current convert_hf_to_gguf does for the absorbed-MLA kernels.
        heads = model.num_attention_heads
        nope = model.qk_nope_head_dim or 0
        rope = model.qk_rope_head_dim or 0
        v_dim = model.v_head_dim or model.head_dim
        kv_rank = model.kv_lora_rank or 0
        if model.q_lora_rank:
            yield t("ATTN_Q_A", (hidden, model.q_lora_rank))
            yield t("ATTN_Q_A_NORM", (model.q_lora_rank,))
            yield t("ATTN_Q_B", (model.q_lora_rank, heads * (nope + rope)))
        else:
            yield t("ATTN_Q", (hidden, heads * (nope + rope)))
        yield t("ATTN_KV_A_MQA", (hidden, kv_rank + rope))
        yield t("ATTN_KV_A_NORM", (kv_rank,))
        yield t("ATTN_K_B", (nope, kv_rank, heads))
        yield t("ATTN_V_B", (kv_rank, v_dim, heads))
        yield t("ATTN_OUT", (heads * v_dim, hidden))
        return

    if layout.gated_query:
        yield t("ATTN_Q", (hidden, 2 * q_width))
        yield t("ATTN_K", (hidden, kv_width))
        yield t("ATTN_V", (hidden, kv_width))
    elif layout.fused_qkv:
        yield t("ATTN_QKV", (hidden, q_width + 2 * kv_width))
        if model.attention_bias:
            yield t("ATTN_QKV", (q_width + 2 * kv_width,), "bias")
    else:
        for kind, width in (("ATTN_Q", q_width), ("ATTN_K", kv_width), ("ATTN_V", kv_width)):
            yield t(kind, (hidden, width))
            if model.attention_bias:
                yield t(kind, (width,), "bias")
    if model.qk_norm and layout.qk_norm_weights:
        yield t("ATTN_Q_NORM", (model.head_dim,))
        yield t("ATTN_K_NORM", (model.head_dim,))
    yield t("ATTN_OUT", (q_width, hidden))
    if model.attention_bias and layout.attn_output_bias:
        yield t("ATTN_OUT", (hidden,), "bias")
    if layout.attn_sinks:
        yield t("ATTN_SINKS", (model.num_attention_heads,))


@dataclass(frozen=True)
class GatedDeltaNetDims:
    """Shape of a Gated DeltaNet (linear attention) layer: key/value heads and head widths, conv kernel."""

    key_heads: int
    value_heads: int
    key_head_dim: int = 128
    value_head_dim: int = 128
    conv_kernel: int = 4

    @property
    def key_dim(self) -> int:
        return self.key_heads * self.key_head_dim

    @property
    def value_dim(self) -> int:
        return self.value_heads * self.value_head_dim

    def state_bytes(self) -> int:
        """fp32 conv state + recurrent state of one sequence (as hf_config computes it)."""
        conv = (self.conv_kernel - 1) * (2 * self.key_dim + self.value_dim)
        return 4 * (conv + self.value_heads * self.key_head_dim * self.value_head_dim)


def gated_deltanet_dims(model: ModelEntry) -> GatedDeltaNetDims:
    """Recover the linear-attention shape from ``linear_state_bytes_per_layer``.

    ModelEntry records only the state size, so this assumes Qwen3-Next's published layout (128-wide
    key and value heads, twice as many value heads as key heads, kernel 4) and solves for the head
    count; a state size that does not fit that layout is refused rather than guessed.
    """
    from sizer.errors import UnsupportedError

    state = model.linear_state_bytes_per_layer
    per_key_head = GatedDeltaNetDims(1, 2).state_bytes()
    if not state or state % per_key_head:
        raise UnsupportedError(
            f"{model.id}: linear-attention layer shapes cannot be derived from linear_state_bytes_per_layer={state}"
        )
    key_heads = state // per_key_head
    return GatedDeltaNetDims(key_heads, 2 * key_heads)


def _gated_deltanet(model: ModelEntry, il: int) -> Iterator[TensorSpec]:
    """A Qwen3-Next linear-attention layer as llama.cpp's converter writes it (fused qkv + gate)."""
    dims = gated_deltanet_dims(model)
    hidden = model.hidden_size

    def t(kind: str, shape: tuple[int, ...], suffix: str = "weight") -> TensorSpec:
        return TensorSpec(tensor_name(kind, il, suffix), shape, il)

    yield t("ATTN_QKV", (hidden, 2 * dims.key_dim + dims.value_dim))
    yield t("ATTN_GATE", (hidden, dims.value_dim))
    yield t("SSM_CONV1D", (dims.conv_kernel, 2 * dims.key_dim + dims.value_dim))
    yield t("SSM_DT", (dims.value_heads,), "bias")
    yield TensorSpec(tensor_name("SSM_A", il, "weight").removesuffix(".weight"), (dims.value_heads,), il)
    yield t("SSM_BETA_ALPHA", (hidden, 2 * dims.value_heads))
    yield t("SSM_NORM", (dims.value_head_dim,))
    yield t("SSM_OUT", (dims.value_dim, hidden))


def _dense_mlp(model: ModelEntry, layout: GgufLayout, il: int, width: int) -> Iterator[TensorSpec]:
    hidden = model.hidden_size
    if layout.fused_gate_up and model.mlp_gated:
        yield TensorSpec(tensor_name("FFN_UP", il), (hidden, 2 * width), il)
    else:
        if model.mlp_gated:
            yield TensorSpec(tensor_name("FFN_GATE", il), (hidden, width), il)
        yield TensorSpec(tensor_name("FFN_UP", il), (hidden, width), il)
    yield TensorSpec(tensor_name("FFN_DOWN", il), (width, hidden), il)


def _moe_mlp(model: ModelEntry, layout: GgufLayout, il: int) -> Iterator[TensorSpec]:
    hidden = model.hidden_size
    experts = model.num_experts or 0
    width = model.moe_intermediate_size or 0

    def t(kind: str, shape: tuple[int, ...], suffix: str = "weight") -> TensorSpec:
        return TensorSpec(tensor_name(kind, il, suffix), shape, il)

    yield t("FFN_GATE_INP", (hidden, experts))
    if layout.router_bias:
        yield t("FFN_GATE_INP", (experts,), "bias")
    if layout.expert_score_bias:
        yield t("FFN_EXP_PROBS_B", (experts,), "bias")
    if model.mlp_gated:
        yield t("FFN_GATE_EXP", (hidden, width, experts))
        if model.expert_bias:
            yield t("FFN_GATE_EXP", (width, experts), "bias")
    yield t("FFN_UP_EXP", (hidden, width, experts))
    if model.expert_bias:
        yield t("FFN_UP_EXP", (width, experts), "bias")
    yield t("FFN_DOWN_EXP", (width, hidden, experts))
    if model.expert_bias:
        yield t("FFN_DOWN_EXP", (hidden, experts), "bias")

    if model.num_shared_experts:
        shared = model.shared_expert_intermediate_size or width * model.num_shared_experts
        if layout.shared_expert_gate:
            yield t("FFN_GATE_INP_SHEXP", (hidden,))
        if model.mlp_gated:
            yield t("FFN_GATE_SHEXP", (hidden, shared))
        yield t("FFN_UP_SHEXP", (hidden, shared))
        yield t("FFN_DOWN_SHEXP", (shared, hidden))


def _layer(model: ModelEntry, layout: GgufLayout, il: int) -> Iterator[TensorSpec]:
    norms = layout.norms if len(layout.norms) == model.norm_per_layer else GENERIC_NORMS[: model.norm_per_layer]
    for kind in norms:
        yield TensorSpec(tensor_name(kind, il), (model.hidden_size,), il)
    if layout.linear_attention and model.layer_kind(il) == "L":
        yield from _gated_deltanet(model, il)
    else:
        yield from _attention(model, layout, il)
    if model.is_moe_layer(il):
        yield from _moe_mlp(model, layout, il)
    else:
        yield from _dense_mlp(model, layout, il, model.intermediate_size)


_TENSOR_CACHE: dict[str, tuple[ModelEntry, tuple[TensorSpec, ...]]] = {}


def model_tensors(model: ModelEntry) -> list[TensorSpec]:
    """Every weight tensor of the model's text decoder, in llama.cpp GGUF names and ggml shapes.

    Not included: multi-token-prediction layers (the converter drops them, and official counts such as
    DeepSeek-V3's 671B leave them out), vision towers, and RoPE frequency tables (``rope_freqs``:
    head_dim/2 floats the converter adds for Llama-3-style RoPE scaling, which ModelEntry does not record).

    The list depends only on the architecture, and the recommender asks for it once per quantization,
    so it is kept per model id (and recomputed if an entry with that id differs).
    """
    cached = _TENSOR_CACHE.get(model.id)
    if cached is not None and cached[0] == model:
        return list(cached[1])
    tensors = _build_tensors(model)
    _TENSOR_CACHE[model.id] = (model, tuple(tensors))
    return tensors


def _build_tensors(model: ModelEntry) -> list[TensorSpec]:
    layout = layout_for(model)
    hidden = model.hidden_size
    tensors = [TensorSpec(tensor_name("TOKEN_EMBD"), (hidden, model.vocab_size), None)]
    for il in range(model.num_layers):
        tensors.extend(_layer(model, layout, il))
    tensors.append(TensorSpec(tensor_name("OUTPUT_NORM"), (hidden,), None))
    if not model.tie_word_embeddings:
        tensors.append(TensorSpec(tensor_name("OUTPUT"), (hidden, model.vocab_size), None))
    return tensors


# --------------------------------------------------------------------------- stored sizes


class TensorBytes(BaseModel):
    """One tensor as a given format stores it."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: str = Field(description="Storage type: a ggml type name (Q4_K, F16…) or a checkpoint dtype (int4+fp16 scales…).")
    bytes: int
    layer: int | None = None


_Breakdown = TypeVar("_Breakdown", bound="WeightsBreakdown")


class WeightsBreakdown(BaseModel):
    """Bytes of a model's weights in one storage format, per tensor and per layer.

    ``total_bytes`` is the tensor data an engine loads, and always equals
    ``sum(layer_bytes) + token_embd_bytes + output_bytes + other_bytes``.
    """

    model_config = ConfigDict(frozen=True)

    format: str
    tensors: list[TensorBytes]
    total_bytes: int
    layer_bytes: list[int] = Field(description="Bytes of each repeating layer, index = layer number.")
    token_embd_bytes: int = Field(description="Input embedding (also the output head when tied).")
    output_bytes: int = Field(description="Separate output head (lm_head); 0 when tied to the embedding.")
    other_bytes: int = Field(description="Tensors outside the layers besides the two above (final norm…).")

    @classmethod
    def from_tensors(cls: type[_Breakdown], fmt: str, tensors: list[TensorBytes], n_layers: int, **extra: Any) -> _Breakdown:  # noqa: PYI019 - typing.Self needs 3.11
        """Sum per-tensor bytes into the per-layer / embedding / output / other split."""
        layer_bytes = [0] * n_layers
        token_embd = output = other = 0
        for t in tensors:
            if t.layer is not None:
                layer_bytes[t.layer] += t.bytes
            elif t.name.startswith("token_embd."):
                token_embd += t.bytes
            elif t.name.startswith("output."):
                output += t.bytes
            else:
                other += t.bytes
        return cls(
            format=fmt,
            tensors=tensors,
            total_bytes=sum(t.bytes for t in tensors),
            layer_bytes=layer_bytes,
            token_embd_bytes=token_embd,
            output_bytes=output,
            other_bytes=other,
            **extra,
        )


def parameter_count(model: ModelEntry) -> int:
    """Total parameters of the text decoder (embeddings and output head counted once each)."""
    return sum(t.n_elements for t in model_tensors(model))


def active_parameter_count(model: ModelEntry, *, count_token_embedding: bool = True) -> int:
    """Parameters one token uses: everything except the routed experts it is not sent to.

    Each MoE layer runs ``num_experts_per_token`` of its ``num_experts`` routed experts (shared experts
    always run). Conventions differ on the input embedding, which costs one row lookup, not a matmul:
    Mixtral's 12.9B counts it, gpt-oss's 5.1B does not (``count_token_embedding=False``).
    """
    total = 0
    for t in model_tensors(model):
        if t.layer is None and t.name.startswith("token_embd") and not count_token_embedding:
            if model.tie_word_embeddings:
                total += t.n_elements  # the same matrix is the output head, which every token uses
            continue
        if t.is_routed_expert and model.num_experts:
            total += t.n_elements * (model.num_experts_per_token or 0) // model.num_experts
        else:
            total += t.n_elements
    return total
