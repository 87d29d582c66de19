"""The estimate's typed result: memory per term and per device, settings, speed, unknowns.

Key names are a published interface (`sizer schema estimate`): provisioning scripts read
`memory.total_bytes` and `memory.devices[*].total_bytes`; renaming one is a breaking change.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field

Placement = Literal["gpu", "multi-gpu", "partial-offload", "cpu", "unified-memory", "multi-node"]


class Unknown(BaseModel):
    """A figure sizer could not determine, and why (never a guess presented as a fact)."""

    field: str
    reason: str


class DeviceMemory(BaseModel):
    """What one device (a GPU, the CPU's RAM, an Apple chip's unified memory) holds."""

    device: str = Field(description="Engine-style device name: cuda0, rocm1, metal0, cpu; node-1/cuda0 on multi-node.")
    name: Optional[str] = Field(default=None, description="Hardware name, e.g. NVIDIA GeForce RTX 4090.")
    kind: Literal["gpu", "cpu", "unified"]
    layers: int = Field(default=0, description="Repeating layers whose weights live here.")
    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    compute_bytes: int = 0
    overhead_bytes: int = 0
    total_bytes: int = 0
    capacity_bytes: Optional[int] = Field(
        default=None, description="What the engine may use here: free VRAM, the GPU working-set limit, or usable RAM."
    )
    headroom_bytes: Optional[int] = Field(default=None, description="capacity - total; negative when it does not fit.")
    fits: Optional[bool] = None
    terms: dict[str, int] = Field(
        default_factory=dict,
        description="Finer terms that make up the four sums (engine-specific names); cpu_repack_bytes is informational: "
        "the part of the weights llama.cpp moves into a repacked CPU buffer, already inside weights_bytes.",
    )


class MemoryBreakdown(BaseModel):
    """Memory the engine allocates, by term and by device."""

    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    total_bytes: int
    devices: list[DeviceMemory]
    kv_capacity_tokens: Optional[int] = Field(
        default=None, description="vLLM/TGI: tokens the paged KV pool holds (over all sequences)."
    )
    max_concurrency: Optional[float] = Field(
        default=None, description="vLLM/TGI: kv_capacity_tokens / max model length."
    )


class Settings(BaseModel):
    """Engine settings the estimate assumed (and the deployment will pass)."""

    ctx: int = Field(description="Context length per sequence, tokens.")
    parallel: int = Field(description="Sequences served at once (llama.cpp --parallel, OLLAMA_NUM_PARALLEL, vLLM --max-num-seqs).")
    kv_type_k: str
    kv_type_v: str
    flash_attn: Optional[bool] = None
    n_batch: Optional[int] = None
    n_ubatch: Optional[int] = None
    gpu_layers: Optional[int] = Field(default=None, description="llama.cpp -ngl: repeating layers on GPUs (+1 = the output layer).")
    n_ctx: Optional[int] = Field(default=None, description="llama.cpp: total KV cells after padding (all slots).")
    tensor_split: Optional[list[float]] = None
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    gpu_memory_utilization: Optional[float] = None
    max_num_batched_tokens: Optional[int] = None
    max_num_seqs: Optional[int] = None
    block_size: Optional[int] = None
    enforce_eager: Optional[bool] = None
    threads: Optional[int] = None


class ModelRef(BaseModel):
    """The model an estimate is for."""

    id: str
    name: str
    source: Literal["catalog", "config.json", "gguf", "custom"]
    hf_repo: Optional[str] = None
    architecture: str
    params_total: Optional[int] = Field(default=None, description="Parameters counted from the architecture.")
    params_active: Optional[int] = None


class Throughput(BaseModel):
    """Expected speed (filled by the speed model when hardware is known)."""

    decode_tokens_per_s: Optional[float] = None
    prefill_tokens_per_s: Optional[float] = None
    time_to_first_token_s: Optional[float] = None
    prompt_tokens: Optional[int] = None
    notes: list[str] = Field(default_factory=list)


class Estimate(BaseModel):
    """One model × quantization × engine × hardware: what it allocates, where, and whether it fits."""

    model: ModelRef
    backend: str
    quant: str
    weights_format: str = Field(description="gguf or safetensors (the checkpoint kind the engine loads).")
    hardware: Optional[str] = Field(default=None, description="The --hardware spec, or null for a device-neutral estimate.")
    settings: Settings
    placement: Optional[Placement] = None
    fits: Optional[bool] = None
    memory: MemoryBreakdown
    throughput: Optional[Throughput] = None
    warnings: list[str] = Field(default_factory=list)
    unknowns: list[Unknown] = Field(default_factory=list)
