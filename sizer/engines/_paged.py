"""What vLLM and TGI share: safetensors weights sharded by tensor parallelism, and a paged KV pool
made of whatever GPU memory the weights, activations and runtime leave.

Each engine module supplies its own constants (memory fraction, activation profile, runtime
overhead); the arithmetic of sharding and paging is the same and lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, Optional

from sizer.errors import UnsupportedError
from sizer.estimate import kv as kvmod
from sizer.estimate.weights import Weights
from sizer.types import ModelEntry

class CheckpointServer:
    """What vLLM and TGI share as engines: a FORMATS table (format -> (--quantization value, lowest
    compute capability)) that answers which quantizations they take, their flag, and what cannot run."""

    FORMATS: ClassVar[dict[str, tuple[Optional[str], float]]]
    label: ClassVar[str]
    unsupported_format: ClassVar[str]  # message for a format it does not load; {quant} is filled in
    LADDER: ClassVar[tuple[str, ...]] = ("bf16", "fp8", "awq", "gptq")
    KV_FALLBACKS: ClassVar[tuple[dict, ...]] = ({"kv_type": "fp8"},)
    W8A8_FP8: ClassVar[bool] = True

    def recommendation_reasons(self, model: ModelEntry, placement: Optional[str], users: int, many_users: bool) -> list[str]:
        if many_users:
            return [f"{users} users: continuous batching with a paged KV cache is what {self.label} is built for"]
        return []

    def quant_names(self) -> tuple[str, ...]:
        return tuple(self.FORMATS)

    def quantization_flag(self, quant: str) -> Optional[str]:
        return self.FORMATS[quant][0]

    def cannot_run(self, model: ModelEntry, quant: str, machine) -> Optional[str]:
        from sizer.engines.base import gpu_server_cannot_run

        if quant not in self.FORMATS:
            return self.unsupported_format.format(quant=quant)
        return gpu_server_cannot_run(self.label, self.FORMATS, quant, machine)


def largest_legal_tensor_parallel(model: ModelEntry, upper: int, engine: str) -> int:
    """The largest tensor-parallel size up to `upper` whose divisibility rules the model meets."""
    for candidate in range(max(upper, 1), 0, -1):
        try:
            check_tensor_parallel(model, candidate, engine)
        except UnsupportedError:
            continue
        return candidate
    return 1


def check_tensor_parallel(model: ModelEntry, tp: int, engine: str) -> None:
    """The divisibility rules that decide which tensor-parallel sizes are legal."""
    if model.num_attention_heads % tp:
        raise UnsupportedError(
            f"{engine}: {model.num_attention_heads} attention heads are not divisible by tensor-parallel size {tp}"
        )
    kv = model.num_kv_heads
    if not model.is_mla and kv % tp and tp % kv:
        raise UnsupportedError(f"{engine}: {kv} KV heads and tensor-parallel size {tp} do not divide one another")


def kv_heads_per_rank(model: ModelEntry, tp: int) -> int:
    """KV heads each rank caches: split when there are enough, replicated when kv_heads < TP."""
    return max(model.num_kv_heads // tp, 1) if model.num_kv_heads >= tp else 1


def layer_token_bytes_per_rank(model: ModelEntry, tp: int, cache_type: str) -> list[Fraction]:
    """Cache bytes one token costs in each layer on one rank (0 for linear-attention layers).

    MLA latents are not split by tensor parallelism: every rank keeps the whole latent.
    """
    element = kvmod.cache_bytes_per_element(cache_type)
    if element.denominator == 1:
        element = element.numerator  # plain int arithmetic for f16/fp8 (the common case, and much faster)
    heads = kv_heads_per_rank(model, tp)
    costs = []
    for shape in kvmod.layer_cache_shapes(model):
        if shape.kind == "L":
            costs.append(0)
        elif model.is_mla:
            costs.append((shape.k_elements + shape.v_elements) * element)
        else:
            costs.append(2 * heads * model.head_dim * element)
    return costs


def kv_bytes_per_token_per_rank(model: ModelEntry, tp: int, layers: range, cache_type: str) -> Fraction:
    """Cache bytes one token costs on one rank, over the given (pipeline-stage) layers."""
    costs = layer_token_bytes_per_rank(model, tp, cache_type)
    return sum((costs[layer] for layer in layers), Fraction(0))


def sequence_kv_bytes_per_rank(model: ModelEntry, tp: int, layers: range, cache_type: str, length: int, block: int) -> int:
    """Cache one sequence of `length` tokens takes on one rank, sliding-window layers bounded by their window."""
    costs = layer_token_bytes_per_rank(model, tp, cache_type)
    full_length = -(-length // block) * block
    total = Fraction(0)
    for layer in layers:
        kind = model.layer_kind(layer)
        window = model.sliding_window if kind == "S" else model.attention_chunk_size if kind == "C" else None
        tokens = -(-min(length, window + block) // block) * block if window else full_length
        total += costs[layer] * tokens
    return int(total)


def stage_layers(num_layers: int, pp: int) -> list[range]:
    """Layers of each pipeline stage (vLLM's get_pp_indices: an even split, the remainder to the last stages)."""
    base, extra = divmod(num_layers, pp)
    ranges, start = [], 0
    for stage in range(pp):
        size = base + (1 if stage >= pp - extra else 0)
        ranges.append(range(start, start + size))
        start += size
    return ranges


def weights_per_rank(weights: Weights, layers: range, tp: int, *, first: bool, last: bool) -> int:
    """Weight bytes one rank loads: its stage's layers and the vocab-parallel embedding/head, split by TP."""
    total = sum(weights.layer_bytes[i] for i in layers)
    if first:
        total += weights.token_embd_bytes
    if last:
        total += weights.output_bytes
    return total // tp


@dataclass
class PagedPool:
    """The KV pool of one rank and what it holds."""

    pool_bytes: int
    block_tokens: int
    token_bytes: Fraction
    sequence_bytes: int

    @property
    def capacity_tokens(self) -> int:
        if self.pool_bytes <= 0 or self.token_bytes <= 0:
            return 0
        blocks = int(self.pool_bytes // (self.token_bytes * self.block_tokens))
        return blocks * self.block_tokens

    def max_concurrency(self, length: int) -> Optional[float]:
        if self.sequence_bytes <= 0:
            return None
        return max(self.pool_bytes, 0) / self.sequence_bytes


ACTIVATION_BYTES = 2  # bf16 activations in the profiling run
LOGITS_BYTES = 4  # the sampler's fp32 logits for max_num_seqs rows


def activation_peak_bytes(model: ModelEntry, tokens: int, max_num_seqs: int, tp: int) -> int:
    """Peak of a profiling forward pass (vLLM's profile run, TGI's warmup) at `tokens` batched tokens.

    Per token the MLP's gate_up output (2 x ffn), its activation (ffn) and two hidden-size
    buffers, in bf16; MoE layers hold top_k expert rows.  Plus the sampler's fp32 logits for
    max_num_seqs sequences.  Checked on Llama-3.1-8B: 2.03 GiB predicted vs 2.07 GiB logged at
    20,000 tokens (RTX 3090), 2.89 vs 2.99 at 29,000 (runtime_logs vllm-llama31-8b-3090-*).
    """
    widths = [model.intermediate_size] if model.intermediate_size else []
    if model.is_moe:
        widths.append((model.moe_intermediate_size or 0) * (model.num_experts_per_token or 1))
    ffn = max(widths or [model.hidden_size])
    per_token = (3 * ffn // tp + 2 * model.hidden_size) * ACTIVATION_BYTES
    return tokens * per_token + max_num_seqs * (model.vocab_size // tp) * LOGITS_BYTES
