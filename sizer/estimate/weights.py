"""Weights as the engines place them: per repeating layer, the input embedding, the output head.

Engines place weights by layer (llama.cpp's -ngl, vLLM's pipeline stages), so the estimate
keeps the per-layer bytes rather than one total.  The bytes themselves come from the GGUF
mixing rules (:mod:`sizer.estimate.gguf_quant`), the checkpoint formats
(:mod:`sizer.estimate.formats`) or, for a real GGUF file, its header.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Weights:
    """Bytes of a model's weights in one format, split the way engines place them."""

    quant: str
    format: str  # "gguf" or "safetensors"
    layer_bytes: tuple[int, ...]
    token_embd_bytes: int
    output_bytes: int = field(metadata={"doc": "output head + final norm; 0 when tied to the embeddings"})
    other_bytes: int = 0  # e.g. DeepSeek's multi-token-prediction layer, not run by default
    expert_layer_bytes: tuple[int, ...] = ()  # routed-expert part of each layer (MoE offload)
    active_expert_fraction: float = 1.0  # experts_per_token / experts
    tied_embeddings: bool = False
    exact: bool = False  # True when read from a real file's header
    header_bytes: int = 0  # GGUF metadata (tokenizer…) in the file, not loaded as tensors
    # Bytes per ggml type of the repeating layers' matrix weights whose shape a CPU backend can repack
    # (2-D, or 3-D experts; rows a multiple of 8): which types it repacks is the engine's business.
    repackable_bytes: tuple[tuple[str, int], ...] = ()

    @property
    def total_bytes(self) -> int:
        """Bytes of tensors as stored (the file size less its metadata)."""
        return sum(self.layer_bytes) + self.token_embd_bytes + self.output_bytes + self.other_bytes

    @property
    def file_bytes(self) -> int:
        return self.total_bytes + self.header_bytes

    @property
    def output_head_bytes(self) -> int:
        """What the output layer occupies where it runs: tied models use (and llama.cpp duplicates) the embedding."""
        return self.output_bytes if self.output_bytes else self.token_embd_bytes

    def active_layer_bytes(self, layer: int) -> int:
        """Bytes of one layer read to decode one token (MoE reads only its active experts)."""
        experts = self.expert_layer_bytes[layer] if self.expert_layer_bytes else 0
        return self.layer_bytes[layer] - experts + int(experts * self.active_expert_fraction)

    @property
    def active_bytes_per_token(self) -> int:
        """Weight bytes read per decoded token: active layers plus the output head."""
        return sum(self.active_layer_bytes(i) for i in range(len(self.layer_bytes))) + self.output_head_bytes
