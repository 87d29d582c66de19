"""KV cache and recurrent state: bytes per token per layer, for each attention kind and cache type.

Engines differ only in how many cells they allocate (padding, sliding windows, paging); that
part lives in each engine's module. What one cell of one layer costs is the model's and the
cache type's business, and lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from sizer.errors import InvalidInputError
from sizer.types import ModelEntry

# Bytes per cached element, as (bytes per block, elements per block): llama.cpp's quantized
# cache types are ggml block types (Q8_0: 34 bytes per 32 values; Q4_0: 18 per 32), the others
# plain scalars.  ggml block sizes come from the gguf package; fp8 is vLLM's / TGI's 1-byte cache.
_SCALAR_CACHE_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_e4m3fn": 1}
_GGML_CACHE_TYPES = ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl")

CACHE_TYPES = tuple(_SCALAR_CACHE_BYTES) + _GGML_CACHE_TYPES


@lru_cache(maxsize=64)
def cache_bytes_per_element(cache_type: str) -> Fraction:
    """Exact bytes per cached value (a fraction for block-quantized types)."""
    name = cache_type.lower()
    if name in _SCALAR_CACHE_BYTES:
        return Fraction(_SCALAR_CACHE_BYTES[name])
    if name in _GGML_CACHE_TYPES:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType[name.upper()]]
        return Fraction(type_size, block)
    raise InvalidInputError(f"unknown KV cache type '{cache_type}'; choose from {', '.join(CACHE_TYPES)}")


def is_quantized_cache(cache_type: str) -> bool:
    return cache_type.lower() in _GGML_CACHE_TYPES


@dataclass(frozen=True)
class LayerCacheShape:
    """What one token costs in one layer's cache, before the cache type is applied."""

    k_elements: int
    v_elements: int
    kind: str  # 'F' full, 'S' sliding, 'C' chunked, 'L' linear (state, not per token)


def layer_cache_shapes(model: ModelEntry, *, mla_layout: str = "latent") -> list[LayerCacheShape]:
    """Per-layer K and V widths in elements per token.

    `mla_layout` says how an engine caches multi-head latent attention: 'latent' keeps the
    compressed latent plus the RoPE key in the K slot (llama.cpp since MLA support, vLLM);
    'expanded' keeps full per-head K and V as older llama.cpp builds did.
    """
    shapes = []
    for layer in range(model.num_layers):
        kind = model.layer_kind(layer)
        if kind == "L":
            shapes.append(LayerCacheShape(0, 0, kind))
            continue
        if model.is_mla:
            if mla_layout == "latent":
                k = model.kv_lora_rank + model.qk_rope_head_dim  # type: ignore[operator]
                v = 0
            else:
                k = model.num_attention_heads * (model.qk_nope_head_dim + model.qk_rope_head_dim)  # type: ignore[operator]
                v = model.num_attention_heads * (model.v_head_dim or model.qk_nope_head_dim)  # type: ignore[operator]
        else:
            k = v = model.num_kv_heads * model.head_dim
        shapes.append(LayerCacheShape(k, v, kind))
    return shapes


def kv_bytes_per_token(model: ModelEntry, cache_type_k: str = "f16", cache_type_v: str | None = None) -> int:
    """Bytes one token adds to the cache over all attention layers (no windows, no padding)."""
    k_bytes = cache_bytes_per_element(cache_type_k)
    v_bytes = cache_bytes_per_element(cache_type_v or cache_type_k)
    total = sum(s.k_elements * k_bytes + s.v_elements * v_bytes for s in layer_cache_shapes(model))
    return int(total)


def layer_cache_bytes(shape: LayerCacheShape, cells: int, cache_type_k: str, cache_type_v: str) -> int:
    """Bytes of one layer's K and V tensors holding `cells` tokens (ggml rows are whole blocks)."""
    k = cache_bytes_per_element(cache_type_k)
    v = cache_bytes_per_element(cache_type_v)
    # Integer arithmetic: the recommender evaluates this thousands of times per sweep.
    return shape.k_elements * cells * k.numerator // k.denominator + shape.v_elements * cells * v.numerator // v.denominator


def linear_state_bytes(model: ModelEntry, sequences: int) -> int:
    """Fixed recurrent state of the linear-attention layers for `sequences` parallel sequences."""
    linear_layers = sum(1 for layer in range(model.num_layers) if model.layer_kind(layer) == "L")
    return linear_layers * (model.linear_state_bytes_per_layer or 0) * sequences
