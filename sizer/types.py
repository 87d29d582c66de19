"""Typed records that cross sizer's boundaries: catalog entries, detected machines.

Catalog entries are what ``data/hardware.json`` and ``data/models.json`` hold; the JSON
Schemas of those files are generated from these classes (``sizer schema hardware``), so the
data files and the code cannot drift apart silently.
"""

from __future__ import annotations

import re
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

SLUG = r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$"

Sources = Union[str, list[str]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- hardware

HardwareKind = Literal["gpu", "apple-silicon", "cpu-platform"]
Vendor = Literal["nvidia", "amd", "apple", "intel", "generic"]


class HardwareEntry(_Strict):
    """One catalog device: a discrete GPU, an Apple Silicon chip variant, or a CPU memory platform."""

    id: str = Field(pattern=SLUG, description="Short lowercase slug of the marketing name, e.g. rtx-4090.")
    name: str = Field(description="Marketing name, e.g. 'NVIDIA GeForce RTX 4090'.")
    kind: HardwareKind
    vendor: Vendor
    category: Literal["datacenter", "workstation", "consumer", "laptop", "desktop", "server", "soc"] = Field(
        description="Market segment; drives defaults such as desktop headroom."
    )
    architecture: Optional[str] = Field(default=None, description="GPU/CPU micro-architecture, e.g. Ada Lovelace, Zen 4.")
    release_year: Optional[int] = None
    aliases: list[str] = Field(
        default_factory=list,
        description="Other names that resolve to this entry: the device name NVML / amd-smi / sysctl report, "
        "short forms. Matching is case-insensitive.",
    )
    memory_gib: Optional[float] = Field(
        default=None,
        description="Device memory as sold (GPU VRAM; vendors' 'GB' for GDDR/HBM is GiB). Null for Apple "
        "chips (see memory_options_gib) and CPU platforms (the user gives the RAM size).",
    )
    memory_options_gib: list[float] = Field(
        default_factory=list, description="Apple Silicon: the unified-memory sizes the chip is sold with."
    )
    memory_type: Optional[str] = Field(default=None, description="e.g. GDDR6X, HBM3, LPDDR5X, DDR5-5600.")
    memory_bandwidth_gb_s: Optional[float] = Field(default=None, description="Peak memory bandwidth, decimal GB/s.")
    memory_channels: Optional[int] = Field(default=None, description="CPU platforms: populated DRAM channels.")
    fp16_tflops: Optional[float] = Field(
        default=None, description="Dense (no sparsity) FP16 tensor/matrix TFLOPS with FP32 accumulate where the vendor distinguishes."
    )
    bf16_tflops: Optional[float] = Field(default=None, description="Dense BF16 tensor TFLOPS.")
    fp8_tflops: Optional[float] = Field(default=None, description="Dense FP8 tensor TFLOPS; null where unsupported or unknown.")
    int8_tops: Optional[float] = Field(default=None, description="Dense INT8 tensor TOPS.")
    fp32_tflops: Optional[float] = Field(
        default=None, description="Vector (non-tensor) FP32 TFLOPS as the vendor publishes it; Apple's GPU figure."
    )
    fp8_support: Optional[bool] = Field(default=None, description="Hardware FP8 matrix support.")
    int8_support: Optional[bool] = Field(default=None, description="Hardware INT8 matrix support.")
    compute_capability: Optional[str] = Field(
        default=None, pattern=r"^\d+\.\d+$", description="NVIDIA CUDA compute capability, e.g. '8.9'."
    )
    gfx_target: Optional[str] = Field(default=None, description="AMD LLVM target, e.g. gfx942.")
    gpu_cores: Optional[int] = Field(default=None, description="Apple Silicon GPU core count.")
    cpu_cores: Optional[int] = Field(default=None, description="Apple Silicon CPU cores; CPU platforms: typical core count.")
    nvlink_bandwidth_gb_s: Optional[float] = Field(
        default=None, description="Total NVLink / Infinity Fabric GPU-to-GPU bandwidth per GPU, GB/s; null if none."
    )
    pcie_gen: Optional[int] = None
    tdp_w: Optional[float] = Field(default=None, description="Board power / TDP in watts.")
    price_usd: Optional[float] = Field(default=None, description="Launch or list price in USD where published.")
    source: Sources = Field(description="Where every figure in this entry was read (URLs or documents).")
    notes: Optional[str] = None

    @model_validator(mode="after")
    def _memory_shape(self) -> "HardwareEntry":
        if self.kind == "gpu" and self.memory_gib is None:
            raise ValueError("a GPU entry needs memory_gib")
        if self.kind == "apple-silicon" and not self.memory_options_gib:
            raise ValueError("an Apple Silicon entry needs memory_options_gib")
        return self


class HardwareCatalog(_Strict):
    """The contents of data/hardware.json."""

    schema_version: int = 1
    hardware: list[HardwareEntry]


# --------------------------------------------------------------------------- models

# One letter per layer kind, repeated cyclically over the layers:
#   F full (global) attention, S sliding-window attention, C chunked attention (Llama 4),
#   L linear attention / recurrent state (hybrid models).
LAYER_PATTERN = r"^[FSCL]+$"


class ModelEntry(_Strict):
    """One open-weight model's architecture, normalized from its Hugging Face config.json."""

    id: str = Field(pattern=SLUG, description="Short lowercase slug, e.g. llama-3.1-8b-instruct.")
    name: str
    family: str = Field(description="Family slug for filtering, e.g. llama, qwen, gemma, mistral, phi, deepseek, gpt-oss.")
    hf_repo: str = Field(description="Hugging Face repo id of the original weights.")
    aliases: list[str] = Field(default_factory=list, description="Other repo ids and names that resolve here.")
    ollama_tag: Optional[str] = Field(default=None, description="Ollama library tag, e.g. llama3.1:8b.")
    license: Optional[str] = None
    release_date: Optional[str] = Field(default=None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    use: list[Literal["chat", "reasoning", "code", "vision", "base", "small"]] = Field(default_factory=list)

    architecture: str = Field(description="Hugging Face model_type: llama, qwen2, qwen3_moe, gemma3_text, deepseek_v3, gpt_oss, llama4_text…")
    num_layers: int = Field(gt=0, description="num_hidden_layers")
    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(ge=0, description="Dense MLP width (0 if every layer is MoE and there is no dense MLP).")
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0, description="num_key_value_heads (= heads for MHA).")
    head_dim: int = Field(gt=0, description="Per-head dimension; not always hidden/heads.")
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool
    max_context: int = Field(gt=0, description="max_position_embeddings (or the card's supported context).")
    attention_bias: bool = Field(default=False, description="Bias on q/k/v projections (Qwen2, gpt-oss).")
    qk_norm: bool = Field(default=False, description="Per-head RMSNorm on q and k (Qwen3, Gemma 3).")
    mlp_gated: bool = Field(default=True, description="Gated (SwiGLU/GeGLU) MLP: 3 matrices, else 2.")
    norm_per_layer: int = Field(default=2, ge=1, description="Weight vectors of width hidden per layer (Gemma 2/3: 4).")

    # Mixture of experts
    num_experts: Optional[int] = Field(default=None, description="Routed experts per MoE layer.")
    num_experts_per_token: Optional[int] = None
    moe_intermediate_size: Optional[int] = None
    num_shared_experts: int = 0
    shared_expert_intermediate_size: Optional[int] = Field(
        default=None, description="Width of the shared expert (defaults to moe_intermediate_size × num_shared_experts)."
    )
    first_dense_layers: int = Field(default=0, ge=0, description="DeepSeek first_k_dense_replace: leading layers with a dense MLP.")
    moe_layer_step: int = Field(default=1, ge=1, description="Every n-th layer is MoE (Llama 4 interleave_moe_layer_step).")
    expert_bias: bool = Field(default=False, description="Experts carry biases (gpt-oss).")

    # Multi-head latent attention (DeepSeek-V2/V3)
    q_lora_rank: Optional[int] = None
    kv_lora_rank: Optional[int] = None
    qk_nope_head_dim: Optional[int] = None
    qk_rope_head_dim: Optional[int] = None
    v_head_dim: Optional[int] = None

    # Attention layout
    sliding_window: Optional[int] = Field(default=None, description="Window of the sliding-window layers, tokens.")
    attention_chunk_size: Optional[int] = Field(default=None, description="Chunk of chunked-attention layers (Llama 4).")
    layer_pattern: Optional[str] = Field(
        default=None,
        pattern=LAYER_PATTERN,
        description="Attention kind per layer, repeated cyclically from layer 0: F full, S sliding, C chunked, "
        "L linear. Null = every layer full attention.",
    )
    linear_state_bytes_per_layer: Optional[int] = Field(
        default=None, description="Fixed recurrent state per sequence of one linear-attention layer, bytes."
    )
    mtp_layers: int = Field(default=0, ge=0, description="Multi-token-prediction layers shipped with the weights (DeepSeek-V3).")

    torch_dtype: Optional[str] = Field(default="bfloat16", description="Dtype of the released weights.")
    native_quant: Optional[str] = Field(
        default=None, description="Quantization of the released weights where not 16-bit: fp8 (DeepSeek-V3), mxfp4 (gpt-oss)."
    )
    params_total: Optional[float] = Field(default=None, description="Official total parameter count (model card).")
    params_active: Optional[float] = Field(default=None, description="Official active parameters per token (MoE).")
    source: Sources
    notes: Optional[str] = None

    @model_validator(mode="after")
    def _consistent(self) -> "ModelEntry":
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_kv_heads")
        if self.num_experts is not None and (not self.num_experts_per_token or not self.moe_intermediate_size):
            raise ValueError("an MoE model needs num_experts_per_token and moe_intermediate_size")
        if self.layer_pattern and "S" in self.layer_pattern and not self.sliding_window:
            raise ValueError("layer_pattern has sliding layers but sliding_window is null")
        if self.layer_pattern and "C" in self.layer_pattern and not self.attention_chunk_size:
            raise ValueError("layer_pattern has chunked layers but attention_chunk_size is null")
        if self.kv_lora_rank is not None and (self.qk_rope_head_dim is None or self.qk_nope_head_dim is None):
            raise ValueError("an MLA model needs qk_rope_head_dim and qk_nope_head_dim")
        return self

    @property
    def is_moe(self) -> bool:
        return bool(self.num_experts)

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    def layer_kind(self, layer: int) -> str:
        """Attention kind of one layer: 'F', 'S', 'C' or 'L'."""
        if not self.layer_pattern:
            return "F"
        return self.layer_pattern[layer % len(self.layer_pattern)]

    def is_moe_layer(self, layer: int) -> bool:
        if not self.is_moe or layer < self.first_dense_layers:
            return False
        return (layer + 1) % self.moe_layer_step == 0 if self.moe_layer_step > 1 else True


class ModelCatalog(_Strict):
    """The contents of data/models.json."""

    schema_version: int = 1
    models: list[ModelEntry]


# --------------------------------------------------------------------------- machines


class Cpu(_Strict):
    """The processor of one host, as detected or as described by the user."""

    brand: Optional[str] = None
    architecture: Optional[str] = Field(default=None, description="x86_64, arm64, …")
    physical_cores: Optional[int] = None
    logical_cores: Optional[int] = None
    features: list[str] = Field(
        default_factory=list, description="Inference-relevant ISA features: avx2, avx512f, avx512_vnni, avx512_bf16, amx, neon, sve, …"
    )
    cpu_quota: Optional[float] = Field(default=None, description="cgroup CPU limit in cores, when one is set.")


class SystemMemory(_Strict):
    """System RAM of one host."""

    total_bytes: Optional[int] = None
    available_bytes: Optional[int] = None
    cgroup_limit_bytes: Optional[int] = Field(default=None, description="Container memory limit; wins over the host's total.")
    bandwidth_gb_s: Optional[float] = Field(default=None, description="Peak or measured memory bandwidth.")
    bandwidth_source: Optional[str] = Field(default=None, description="'catalog:<id>', 'measured', or 'user'.")

    @property
    def usable_bytes(self) -> Optional[int]:
        if self.total_bytes is None:
            return self.cgroup_limit_bytes
        if self.cgroup_limit_bytes is not None:
            return min(self.total_bytes, self.cgroup_limit_bytes)
        return self.total_bytes


class Accelerator(_Strict):
    """One accelerator of a host: a GPU, or the GPU side of an Apple Silicon chip."""

    index: int = 0
    vendor: Vendor
    name: str
    catalog_id: Optional[str] = Field(default=None, description="Matching hardware catalog entry; null when unmatched.")
    memory_total_bytes: Optional[int] = None
    memory_used_bytes: Optional[int] = None
    memory_free_bytes: Optional[int] = None
    unified_memory: bool = Field(default=False, description="Memory is shared with the CPU (Apple Silicon, GB10).")
    working_set_limit_bytes: Optional[int] = Field(
        default=None, description="Apple Silicon: how much the GPU may wire (recommendedMaxWorkingSetSize / iogpu.wired_limit_mb)."
    )
    memory_bandwidth_gb_s: Optional[float] = None
    fp16_tflops: Optional[float] = None
    bf16_tflops: Optional[float] = None
    fp8_tflops: Optional[float] = None
    fp32_tflops: Optional[float] = None
    fp8_support: Optional[bool] = None
    int8_support: Optional[bool] = None
    compute_capability: Optional[str] = None
    gpu_cores: Optional[int] = None
    driver_version: Optional[str] = None
    cuda_version: Optional[str] = None
    uuid: Optional[str] = None
    pci_bus_id: Optional[str] = None
    nvlink_peers: list[int] = Field(default_factory=list, description="Indexes of GPUs reached over active NVLink links.")
    nvlink_active_links: Optional[int] = None
    p2p_peers: list[int] = Field(default_factory=list, description="Indexes of GPUs with peer-to-peer access reported OK.")
    tdp_w: Optional[float] = None
    price_usd: Optional[float] = None
    unknown: list[str] = Field(default_factory=list, description="Fields that could not be determined, said plainly.")


class Host(_Strict):
    """One computer: CPU, system memory and its accelerators."""

    hostname: Optional[str] = None
    os: Optional[str] = None
    in_container: bool = False
    cpu: Cpu = Field(default_factory=Cpu)
    memory: SystemMemory = Field(default_factory=SystemMemory)
    accelerators: list[Accelerator] = Field(default_factory=list)
    cpu_platform_id: Optional[str] = Field(default=None, description="Catalog CPU platform used for memory bandwidth.")


class Machine(_Strict):
    """What sizer plans for: one or more hosts (several for multi-node serving)."""

    name: Optional[str] = None
    hosts: list[Host] = Field(min_length=1)
    warnings: list[str] = Field(default_factory=list, description="What could not be detected, and why.")


def slugify(text: str) -> str:
    """Lowercase slug used to compare names from drivers with catalog aliases."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")
