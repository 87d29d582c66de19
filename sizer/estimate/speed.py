"""Speed: decode and prefill tokens/s, time to first token, and batched serving throughput.

The mechanisms (SIZING.md §5), each term a thing the engine does.  The constants (η, τ, …) live in
data/speed.json, fitted per engine × device kind to ../shared/ground_truth/throughput.json by
benchmarks/speed_accuracy.py, each with its rows and errors.

Decode, one sequence at context depth ``d``.  A *stage* is a device (llama.cpp layer split, the CPU
part of a partial offload) or a tensor-parallel group (vLLM); stages run one after another::

    t_token = Σ_stage [ (W + r·KV(d)) / (η·BW)        bytes read: active weights + the cache so far
                        + L·τ_layer                    a fixed cost per layer (kernel launches, syncs)
                        + L·2·allreduce(TP) ]          tensor parallel: two all-reduces per layer
              + Σ hops τ_hop                           the hidden state handed to the next device/host

``W`` counts only the experts a token uses (MoE).  ``r`` = 1 with flash attention; without it each of
the g = n_head/n_kv_head query heads of a group reads the group's K/V again (ggml's broadcast
mat-mul), of which a fitted share reaches memory: r = 1 + (g − 1)·attention_kv_factor.  The
per-layer term is why big fast parts (A100/H100) reach only 35-50% of peak bandwidth on an 8B
model but 60%+ on a 70B one, while small parts sit near η.  Apple GPUs unpack block-quantized
weights on their ALUs, so the weight term is the slower of memory and dequantization
(active params / (GPU cores × rate)); CPUs likewise have a compute floor (cores × per-core rate).

Prefill of ``N`` tokens is compute bound; per micro-batch of ``n`` tokens at depth ``d``::

    t_ubatch = Σ_stage [ (2·P·n + 4·L·H·n·(d + n/2)) / achieved       matmuls + attention FLOPs
                         + (W + 2·P) / (η·BW)                          llama.cpp CUDA, quantized: dequantize to F16
                         + L·n_head·n·(d + n)·4 B·passes / (η·BW) ]    no flash attention: the f32 score matrix

TFLOPS is the dense tensor rate at the precision the kernels use (llama.cpp's cuBLAS path
accumulates in FP16: twice the catalog's FP32-accumulate figure on GeForce; workstation and
data-centre parts run both at the same rate).  The rate a GEMM achieves is the lower of two
limits: the kernels' share of that peak (η_p, per device kind) and what the board's power buys —
TDP × the energy efficiency of the chip generation (achieved TFLOPS per watt, per compute
capability: Samsung-8N Ampere, Ada, Hopper… differ)::

    achieved = min(η_p · peak, tflops_per_watt[generation] · TDP)

which is why an RTX 6000 Ada (AD102 at 300 W) prefills slower than an RTX 4090 (AD102 at 450 W)
despite a higher peak.  A device without the figure in the catalog gets no prefill estimate.  The
micro-batches of one batch are pipelined over a layer split (llama.cpp's pipeline parallelism);
layers left in RAM on a GPU host stream their weights over PCIe for large batches.  CPUs: cores ×
a per-core rate for the widest SIMD class they have (AVX2, AVX-512, AMX, NEON).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from sizer.estimate.result import Estimate, Throughput
from sizer.estimate.weights import Weights
from sizer.types import Accelerator, HardwareEntry, Host, Machine, ModelEntry

GB = 1e9
US = 1e-6
F32 = 4

# Where a host's RAM bandwidth is unknown (a GPU spec without a platform), the CPU part of a
# partial offload runs at the catalog's generic desktop platform (sizer.hardware_spec uses it for `cpu`).
GENERIC_CPU_PLATFORM = "cpu-ddr5-5600-2ch"

# Engines whose speed constants are another engine's: Ollama runs llama.cpp; TGI, like vLLM,
# runs CUDA-graph-captured decode with paged attention.
ENGINE_CONSTANTS = {"llama.cpp": "llama.cpp", "ollama": "llama.cpp", "vllm": "vllm", "tgi": "vllm"}

# Engine → compute backend per accelerator vendor (llama.cpp: CUDA, HIP, Metal; vLLM/TGI: CUDA, ROCm).
BACKEND_BY_VENDOR = {"nvidia": "cuda", "amd": "rocm", "apple": "metal", "intel": "other", "generic": "other"}

# Quantized GGUF types that llama.cpp's CUDA backend dequantizes to F16 before a cuBLAS GEMM at
# batch sizes above the mat-vec path (ggml-cuda.cu ggml_cuda_mul_mat_cublas: quantized src0 →
# compute type F16 when fast FP16 is available).  F16/BF16/F32 files need no conversion.
UNQUANTIZED_GGUF = ("F16", "BF16", "F32")

# Above this batch ggml-cuda's legacy path multiplies quantized weights with cuBLAS after converting
# them to F16 (MMQ_MAX_BATCH_SIZE in the May 2024 builds the prefill rows come from).
DEQUANT_MIN_BATCH = 32

# ggml-cuda's offload_op: an op whose weights sit in host memory runs on the GPU (weights copied over
# PCIe) once the batch has at least this many tokens; smaller batches run on the CPU.
OFFLOAD_MIN_BATCH = 32


# --------------------------------------------------------------------------- constants


@lru_cache(maxsize=1)
def load_constants() -> dict[str, Any]:
    """data/speed.json: fitted efficiencies and overheads, links, CPU rates, with their fits."""
    from sizer.catalog import data_dir

    path = Path(data_dir()) / "speed.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _engine_key(backend: str) -> str:
    return ENGINE_CONSTANTS.get(backend, "llama.cpp")


def kind_constants(constants: dict[str, Any], engine: str, phase: str, kind: str) -> tuple[dict[str, Any], str]:
    """(constants, kind they were fitted for) of one engine × phase × device kind, following fallbacks."""
    table = constants["engines"][engine][phase]
    seen = kind
    fallbacks = constants.get("kind_fallbacks", {})
    visited = {seen}
    while seen not in table:
        seen = fallbacks.get(seen, "default")
        if seen in visited and seen not in table:
            raise KeyError(f"data/speed.json: no {engine} {phase} constants for '{kind}'")
        visited.add(seen)
    return table[seen], seen


# --------------------------------------------------------------------------- devices


def device_kind(accelerator: Optional[Accelerator], entry: Optional[HardwareEntry]) -> str:
    """The speed-model class of a device: vendor × memory technology (data/speed.json keys).

    Memory technology, not market segment, is what the fitted constants track: HBM parts (A100, H100,
    MI300) reach a lower fraction of their peak bandwidth in mat-vec kernels than GDDR boards, whether
    the GDDR board is sold as GeForce, RTX workstation or data-centre (L40S, A40 are AD102/GA102 boards).
    """
    if accelerator is None:
        return "cpu"
    if accelerator.vendor == "apple":
        return "apple"
    memory = (entry.memory_type or "") if entry else ""
    if entry is not None and entry.category == "soc":
        tech = "soc"
    elif memory.upper().startswith("HBM"):
        tech = "hbm"
    elif memory:
        tech = "gddr"
    else:
        # No catalog entry: HBM parts are the ones beyond ~1.5 TB/s.
        tech = "hbm" if (accelerator.memory_bandwidth_gb_s or 0) > 1500 else "gddr"
    if accelerator.vendor in ("nvidia", "amd"):
        return f"{accelerator.vendor}-{tech}"
    return "other"


def _catalog_entry(accelerator: Accelerator) -> Optional[HardwareEntry]:
    if not accelerator.catalog_id:
        return None
    from sizer import catalog
    from sizer.errors import SizerError

    try:
        return catalog.get_hardware(accelerator.catalog_id)
    except SizerError:
        return None


# Dense tensor rate with FP16 accumulation vs the FP32-accumulate figure the catalog stores: GeForce
# parts run FP16×FP16→FP32 at half rate (NVIDIA Ampere GA102 whitepaper: RTX 3090 142 vs 71 TFLOPS;
# Ada whitepaper: RTX 4090 330.3 vs 165.2; ground_truth hardware_specs fp16_tensor_dense_tflops_fp16acc),
# data-centre and workstation parts at full rate, so both accumulations run at the catalog figure
# (Turing whitepaper: Quadro RTX 6000 130.5 / 130.5 vs RTX 2080 Ti 107.6 / 53.8; A100 312 / 312;
# A40 datasheet 149.7 FP16-accumulate = 149.7 BF16 FP32-accumulate; RTX 6000 Ada 364 / 364, RTX 5000
# Ada 261 / 261, L40S 366 / 366 vs RTX 4090 330 / 165 in the per-SKU table of github.com/lamonoai/gpumap
# nvidia/GPU.md, which lists both rows; data/hardware.json's rtx-6000-ada notes cite NVIDIA's
# "dense BF16 with FP32 accumulation" 364).  llama.cpp's cuBLAS path
# accumulates in FP16 (ggml-cuda.cu batched_mul_mat_traits<GGML_TYPE_F16>: CUBLAS_COMPUTE_16F).
FP16_ACCUMULATE_FACTOR = {("nvidia", "consumer"): 2.0, ("nvidia", "laptop"): 2.0}


def matmul_tflops(accelerator: Accelerator, entry: Optional[HardwareEntry], engine: str, quant: str) -> tuple[Optional[float], str, float]:
    """(dense TFLOPS of the GEMMs the engine runs for prefill, which rate it is, FP16-equivalent factor)."""
    if engine == "llama.cpp":
        if accelerator.fp16_tflops is None:
            return None, "FP16", 1.0
        factor = FP16_ACCUMULATE_FACTOR.get((accelerator.vendor, entry.category), 1.0) if entry else 1.0
        label = "FP16 tensor, FP16 accumulate" if factor > 1 else "FP16 tensor"
        return accelerator.fp16_tflops * factor, label, 1.0
    q = quant.lower()
    if q.startswith("fp8") and accelerator.fp8_support and accelerator.fp8_tflops:
        return accelerator.fp8_tflops, "FP8 tensor", 2.0
    if q == "fp16":
        return accelerator.fp16_tflops, "FP16 tensor", 1.0
    rate = accelerator.bf16_tflops or accelerator.fp16_tflops
    return rate, "BF16 tensor", 1.0


def power_generation(accelerator: Accelerator, entry: Optional[HardwareEntry]) -> Optional[str]:
    """The chip generation whose energy efficiency caps a board's tensor rate (data/speed.json power keys).

    NVIDIA: the compute capability, which names the SM design and with it the process (8.0 GA100 on
    TSMC N7, 8.6 GA10x on Samsung 8N, 8.9 Ada and 9.0 Hopper on TSMC 4N, 10.0/12.0 Blackwell on 4NP).
    Other vendors: vendor and catalog architecture.
    """
    if accelerator.vendor == "nvidia" and accelerator.compute_capability:
        return f"nvidia-{accelerator.compute_capability}"
    architecture = entry.architecture if entry is not None else None
    return f"{accelerator.vendor}-{architecture}" if architecture else None


def tflops_per_watt(constants: dict[str, Any], generation: Optional[str]) -> Optional[float]:
    """Achieved dense FP16 tensor TFLOPS one watt of board power sustains for a chip generation.

    A generation without its own figure follows `power.generation_fallbacks` (its `default` entry
    for generations not listed); a null value means the data show no power limit for that
    generation, and the cap is not applied.
    """
    power = constants.get("power", {})
    table = power.get("tensor_fp16_tflops_per_watt") or {}
    if generation not in table:
        fallbacks = power.get("generation_fallbacks", {})
        generation = fallbacks.get(generation or "", fallbacks.get("default"))
    return (table.get(generation) or {}).get("value")


def achieved_tflops(peak: Optional[float], efficiency: float, tdp_w: Optional[float], per_watt: Optional[float], fp16_equivalent: float = 1.0) -> Optional[float]:
    """The tensor rate a GEMM reaches: the kernels' share of the peak, or what the board's power buys.

    Dense tensor math draws more than a board may at full clocks, so its clocks drop until the power
    limit holds: the power caps the rate achieved, not the peak (an RTX 6000 Ada, AD102 at 300 W,
    reaches ~107 TFLOPS where an RTX 4090, AD102 at 450 W, reaches ~155).  `per_watt` is the
    achieved FP16 rate one watt sustains on the chip's generation; FP8 counts double.
    """
    if peak is None:
        return None
    rate = efficiency * peak
    if tdp_w and per_watt:
        rate = min(rate, per_watt * tdp_w * fp16_equivalent)
    return rate


# PCIe x16 bandwidth per direction (PCI-SIG: 8/16/32 GT/s per lane with 128b/130b encoding →
# 0.985/1.969/3.938 GB/s per lane).  Gen 3: 15.75, gen 4: 31.5, gen 5: 63.0 GB/s.
PCIE_X16_GB_S = {3: 15.75, 4: 31.5, 5: 63.0, 6: 126.0}


@dataclass(frozen=True)
class Link:
    """How tensor-parallel ranks or pipeline stages exchange activations."""

    kind: str  # "nvlink", "pcie", "network", "unified"
    bandwidth_gb_s: float  # per direction
    latency_s: float


def gpu_link(accelerators: list[Accelerator], constants: dict[str, Any], notes: list[str]) -> Link:
    """NVLink when the GPUs have it (detected peers, or an SXM/NVSwitch board from the catalog), else PCIe."""
    links = constants["links"]
    first = accelerators[0]
    entry = _catalog_entry(first)
    nvlink_total = entry.nvlink_bandwidth_gb_s if entry else None
    detected = any(a.uuid or a.pci_bus_id for a in accelerators)
    if detected:
        has_nvlink = all(a.nvlink_peers for a in accelerators)
    else:
        # A catalog plan: data-centre parts with NVLink are SXM/HGX boards, where every GPU is linked.
        has_nvlink = bool(nvlink_total) and entry is not None and entry.category == "datacenter"
        if nvlink_total and not has_nvlink:
            notes.append(f"{first.name}: assuming no NVLink bridge (PCIe between GPUs); a bridge speeds up tensor parallel")
    if has_nvlink and nvlink_total:
        return Link("nvlink", nvlink_total / 2, links["nvlink_latency_us"] * US)
    gen = (entry.pcie_gen if entry else None) or links["default_pcie_gen"]
    return Link("pcie", PCIE_X16_GB_S.get(gen, PCIE_X16_GB_S[4]), links["pcie_latency_us"] * US)


def allreduce_seconds(tp: int, message_bytes: float, link: Link) -> float:
    """One ring all-reduce: a fixed latency plus 2(tp−1)/tp of the message over the link."""
    if tp <= 1:
        return 0.0
    return link.latency_s + 2 * (tp - 1) / tp * message_bytes / (link.bandwidth_gb_s * GB)


# CPU ISA classes, widest first; host feature flags and catalog micro-architectures that imply them.
CPU_ISA_FEATURES = (("amx", ("amx", "amx_int8", "amx_bf16", "amx_tile")), ("avx512", ("avx512f", "avx512_vnni", "avx512bw")), ("avx2", ("avx2",)), ("neon", ("neon", "asimd", "sve")))
CPU_ISA_BY_ARCHITECTURE = (("Rapids", "amx"), ("Zen 5", "avx512"), ("Zen 4", "avx512"), ("Apple", "neon"))


def cpu_isa(host: Host) -> tuple[str, bool]:
    """(ISA class, inferred) of a host's CPU: from its feature flags, else its catalog platform."""
    features = {f.lower() for f in host.cpu.features}
    for isa, flags in CPU_ISA_FEATURES:
        if features & set(flags):
            return isa, False
    architecture = ""
    if host.cpu_platform_id:
        from sizer import catalog
        from sizer.errors import SizerError

        try:
            architecture = catalog.get_hardware(host.cpu_platform_id).architecture or ""
        except SizerError:
            architecture = ""
    for marker, isa in CPU_ISA_BY_ARCHITECTURE:
        if marker in architecture:
            return isa, True
    if (host.cpu.architecture or "").lower() in ("arm64", "aarch64"):
        return "neon", True
    return "avx2", True


# --------------------------------------------------------------------------- the plan


@dataclass
class Stage:
    """Layers that run on one device, or on one tensor-parallel group, and what that device offers."""

    device: str
    kind: str
    backend: str  # cuda, rocm, metal, cpu, other
    bandwidth_gb_s: float
    tflops: Optional[float]  # matmul rate for prefill (per rank)
    layers: int
    weight_bytes: float  # active bytes read per token, per rank
    params: float  # active parameters per token, per rank
    kv_full_bytes_per_cell: float  # K+V bytes one cached token costs over this stage's full-attention layers, per rank
    kv_windowed: list[tuple[int, float]] = field(default_factory=list)  # (window, bytes per cell) of windowed layers
    attn_width: float = 0.0  # Σ over layers of n_head × head_dim (attention FLOPs), per rank
    score_heads: float = 0.0  # Σ over layers of n_head (score matrix without flash attention), per rank
    tp: int = 1
    link: Optional[Link] = None
    cpu_cores: Optional[float] = None  # CPU stages: cores (or threads) that run the layers
    cpu_isa: Optional[str] = None  # their widest SIMD class (data/speed.json cpu.gops_per_core keys)
    pcie_weight_bytes: float = 0.0  # GPU host, layers in RAM: weights a large batch streams over PCIe
    pcie_gb_s: float = 0.0
    gpu_cores: Optional[int] = None  # Apple: GPU cores that dequantize block-quantized weights
    tdp_w: Optional[float] = None  # board power: caps the achieved tensor rate
    power_key: Optional[str] = None  # chip generation whose TFLOPS per watt applies (power_generation)
    fp16_equivalent: float = 1.0  # tensor rate of the precision used relative to FP16 (FP8: 2)
    offload_kind: Optional[str] = None  # CPU stage on a GPU host: the GPU that runs its large batches
    host: int = 0  # index of the host (multi-node pipeline stages hand over across the network)
    stored_bytes: float = 0.0  # all weight bytes of the stage per rank (a large batch touches every expert)
    expert_bytes: float = 0.0  # routed-expert bytes of the stage per rank (MoE)
    stored_params: float = 0.0


@dataclass
class SpeedPlan:
    """Everything the speed formulas need, resolved once from an estimate."""

    engine: str  # constants key: llama.cpp or vllm
    backend: str  # the estimate's engine name
    stages: list[Stage]
    hidden: int
    flash_attn: bool
    kv_reread: float  # query heads per KV head whose attention re-reads each K/V row (1 with flash attention)
    expert_fraction: float  # experts a token uses / routed experts (1 for dense models)
    quantized_gguf: bool
    n_ubatch: int
    n_batch: int
    constants: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    prefill_missing: list[str] = field(default_factory=list)  # why prefill cannot be estimated
    launch_scale: float = 1.0  # per-layer overhead of CUDA/HIP stages relative to current builds (the fit's older rows)


def _kv_cell_bytes(model: ModelEntry, type_k: str, type_v: str, mla_layout: str = "latent") -> list[tuple[str, float]]:
    """(layer kind, K+V bytes of one cached token) per layer."""
    from sizer.estimate import kv as kvmod

    k_bytes = float(kvmod.cache_bytes_per_element(type_k))
    v_bytes = float(kvmod.cache_bytes_per_element(type_v))
    return [(s.kind, s.k_elements * k_bytes + s.v_elements * v_bytes) for s in kvmod.layer_cache_shapes(model, mla_layout=mla_layout)]


def _cache_types(estimate: Estimate) -> tuple[str, str]:
    def norm(name: str) -> str:
        name = (name or "f16").lower()
        if name in ("auto", "bf16", "fp16"):
            return "f16"
        if name.startswith("fp8"):
            return "fp8"
        return name

    return norm(estimate.settings.kv_type_k), norm(estimate.settings.kv_type_v)


def _layer_params(estimate: Estimate, model: ModelEntry, weights: Weights) -> tuple[list[float], float]:
    """Active parameters per layer (matmul work per token) and of the output head.

    The official active count less the embedding lookup and the output head, spread over layers
    in proportion to their active bytes (a file's bits per weight are near uniform across layers).
    """
    head = model.vocab_size * model.hidden_size
    total = estimate.model.params_active or estimate.model.params_total or model.params_active or model.params_total
    if not total:
        from sizer.estimate.tensors import active_parameter_count

        total = active_parameter_count(model)
    active_bytes = [weights.active_layer_bytes(i) for i in range(len(weights.layer_bytes))]
    byte_sum = sum(active_bytes) or 1
    embedding = head  # the input lookup costs no matmul
    body = max(total - embedding - (0 if model.tie_word_embeddings else head), 0.1 * total)
    return [body * b / byte_sum for b in active_bytes], head


def _layer_owners(estimate: Estimate, n_layer: int, tp: int = 1) -> tuple[list[str], Optional[str]]:
    """Device name of each repeating layer and of the output head, from the per-device layer counts.

    llama.cpp keeps the first (n_layer − gpu_layers) layers in RAM and gives the rest to the GPUs in
    order; the output layer goes to the last GPU once gpu_layers > n_layer.  vLLM pipeline stages
    are consecutive too.
    """
    devices = estimate.memory.devices
    cpu = [d for d in devices if d.device == "cpu" or d.device.endswith("/cpu")]
    others = [d for d in devices if d not in cpu][::tp]
    owners: list[str] = []
    for d in cpu + others:
        owners.extend([d.device] * d.layers)
    owners = owners[:n_layer]
    while len(owners) < n_layer:
        owners.append(owners[-1] if owners else (devices[0].device if devices else "cpu"))
    output = None
    for d in devices:
        if d.terms.get("weights_output_bytes"):
            output = d.device
    gpu_layers = estimate.settings.gpu_layers
    if output is None and cpu and gpu_layers is not None and gpu_layers <= n_layer:
        output = cpu[0].device  # llama.cpp: the output layer is layer n_layer, offloaded last
    if output is None:
        output = owners[-1] if owners else None
    return owners, output


def _accelerator_map(machine: Machine) -> dict[str, tuple[Host, Accelerator]]:
    from sizer.engines.llamacpp import device_prefix

    table: dict[str, tuple[Host, Accelerator]] = {}
    multi = len(machine.hosts) > 1
    for h, host in enumerate(machine.hosts):
        for a in host.accelerators:
            for prefix in {device_prefix(a), "cuda", "rocm"}:
                name = f"{prefix}{a.index}"
                table[f"node-{h}/{name}" if multi else name] = (host, a)
                table.setdefault(name, (host, a))
    return table


def _cpu_stage_resources(host: Host, settings_threads: Optional[int], constants: dict[str, Any], notes: list[str]) -> tuple[float, float, str]:
    """(RAM bandwidth GB/s, cores, ISA class) of a host."""
    bandwidth = host.memory.bandwidth_gb_s
    if not bandwidth:
        from sizer import catalog

        generic = catalog.get_hardware(GENERIC_CPU_PLATFORM)
        bandwidth = generic.memory_bandwidth_gb_s or 89.6
        notes.append(f"RAM bandwidth unknown: assuming {generic.name} ({bandwidth:g} GB/s) for the layers in system memory")
    cores = host.cpu.physical_cores
    if host.cpu.cpu_quota:
        cores = min(cores or host.cpu.cpu_quota, host.cpu.cpu_quota)
    if settings_threads:
        cores = min(cores or settings_threads, settings_threads)
    if not cores:
        cores = constants["cpu"]["default_cores"]
        notes.append(f"CPU core count unknown: assuming {cores} cores")
    isa, inferred = cpu_isa(host)
    if inferred:
        notes.append(f"CPU instruction set not detected: assuming {isa.upper()}")
    return float(bandwidth), float(cores), isa


def build_plan(estimate: Estimate, model: ModelEntry, weights: Weights, machine: Machine, constants: Optional[dict[str, Any]] = None) -> SpeedPlan:
    """Resolve the estimate's placement into stages with bytes, FLOPs and device figures."""
    constants = constants or load_constants()
    engine = _engine_key(estimate.backend)
    settings = estimate.settings
    notes: list[str] = []
    missing: list[str] = []
    n_layer = len(weights.layer_bytes)
    tp = max(settings.tensor_parallel or 1, 1)
    type_k, type_v = _cache_types(estimate)
    cells = _kv_cell_bytes(model, type_k, type_v)
    layer_params, head_params = _layer_params(estimate, model, weights)
    owners, output_owner = _layer_owners(estimate, n_layer, tp if engine == "vllm" else 1)
    accelerators = _accelerator_map(machine)
    flash = bool(settings.flash_attn) if settings.flash_attn is not None else True
    if engine == "vllm":
        flash = True  # paged/flash attention kernels read each KV head once
    reread = 1.0 if flash or model.is_mla else model.num_attention_heads / model.num_kv_heads
    quantized = weights.format == "gguf" and weights.quant.upper() not in UNQUANTIZED_GGUF

    # Stages: runs of consecutive layers on one device (llama.cpp), or on one TP group (vLLM, whose
    # devices are listed rank by rank; the first rank of each pipeline stage names it).
    groups: list[tuple[str, list[int]]] = []
    for il, owner in enumerate(owners):
        if groups and groups[-1][0] == owner:
            groups[-1][1].append(il)
        else:
            groups.append((owner, [il]))
    if output_owner is not None and not any(owner == output_owner for owner, _ in groups):
        groups.append((output_owner, []))

    stages: list[Stage] = []
    for owner, layers in groups:
        located = accelerators.get(owner)
        kv_full = sum(cells[il][1] for il in layers if cells[il][0] == "F")
        windowed_layers = [(il, cells[il]) for il in layers if cells[il][0] in ("S", "C")]
        window = model.sliding_window if any(c[0] == "S" for _, c in windowed_layers) else model.attention_chunk_size
        kv_windowed = [(int(model.sliding_window if c[0] == "S" else model.attention_chunk_size or window or 0), c[1]) for _, c in windowed_layers]
        weight_bytes = float(sum(weights.active_layer_bytes(il) for il in layers))
        params = float(sum(layer_params[il] for il in layers))
        stored = float(sum(weights.layer_bytes[il] for il in layers))
        if owner == output_owner:
            weight_bytes += weights.output_head_bytes
            params += head_params
            stored += weights.output_head_bytes
        stored_params = params * stored / weight_bytes if weight_bytes else params
        experts = float(sum(weights.expert_layer_bytes[il] for il in layers)) if weights.expert_layer_bytes else 0.0
        attention_layers = [il for il in layers if cells[il][0] != "L"]
        head_dim_q = model.head_dim if not model.is_mla else (model.qk_nope_head_dim or 0) + (model.qk_rope_head_dim or 0)
        attn_width = float(len(attention_layers) * model.num_attention_heads * head_dim_q)
        score_heads = float(len(attention_layers) * model.num_attention_heads)
        if located is None:
            host = machine.hosts[0]
            if "/" in owner:
                index = int(owner.split("/")[0].split("-")[1])
                host = machine.hosts[min(index, len(machine.hosts) - 1)]
            bandwidth, cores, isa = _cpu_stage_resources(host, settings.threads, constants, notes)
            stage = Stage(owner, "cpu", "cpu", bandwidth, None, len(layers), weight_bytes, params, kv_full, kv_windowed, attn_width, score_heads, cpu_cores=cores, cpu_isa=isa, stored_bytes=stored, stored_params=stored_params, expert_bytes=experts)
            gpus_here = [a for a in host.accelerators if not a.unified_memory]
            if gpus_here:
                # Large batches run the RAM-resident layers on the GPU: their weights cross PCIe
                # (ggml_backend_sched offloads ops with host weights when the batch is ≥ 32 tokens).
                entry = _catalog_entry(gpus_here[0])
                gen = (entry.pcie_gen if entry else None) or constants["links"]["default_pcie_gen"]
                stage.pcie_weight_bytes = float(sum(weights.layer_bytes[il] for il in layers))
                stage.pcie_gb_s = PCIE_X16_GB_S.get(gen, PCIE_X16_GB_S[4])
                peak, _, fp16_equivalent = matmul_tflops(gpus_here[0], entry, engine, weights.quant)
                stage.tflops = peak
                stage.tdp_w = gpus_here[0].tdp_w
                stage.power_key = power_generation(gpus_here[0], entry)
                stage.fp16_equivalent = fp16_equivalent
                stage.offload_kind = device_kind(gpus_here[0], entry)
            stages.append(stage)
            continue
        host, accelerator = located
        host_index = next((i for i, h in enumerate(machine.hosts) if h is host), 0)
        entry = _catalog_entry(accelerator)
        kind = device_kind(accelerator, entry)
        bandwidth = accelerator.memory_bandwidth_gb_s
        if not bandwidth:
            missing.append(f"{accelerator.name}: memory bandwidth unknown")
            bandwidth = float("nan")
        tflops, label, fp16_equivalent = matmul_tflops(accelerator, entry, engine, weights.quant)
        if tflops is None:
            why = f"{accelerator.name}: no dense {label} TFLOPS in the hardware catalog"
            if why not in missing:
                missing.append(why)
        link = None
        stage_tp = 1
        if engine == "vllm" and tp > 1:
            stage_tp = tp
            first = host.accelerators.index(accelerator)
            peers = host.accelerators[first : first + tp] or host.accelerators[:tp]
            link = gpu_link(peers, constants, notes)
        stages.append(
            Stage(
                owner,
                kind,
                BACKEND_BY_VENDOR.get(accelerator.vendor, "other"),
                float(bandwidth),
                tflops / 1 if tflops else None,
                len(layers),
                weight_bytes / stage_tp,
                params / stage_tp,
                kv_full / stage_tp,
                [(w, b / stage_tp) for w, b in kv_windowed],
                attn_width / stage_tp,
                score_heads / stage_tp,
                tp=stage_tp,
                link=link,
                gpu_cores=accelerator.gpu_cores,
                tdp_w=accelerator.tdp_w,
                power_key=power_generation(accelerator, entry),
                fp16_equivalent=fp16_equivalent,
                host=host_index,
                stored_bytes=stored / stage_tp,
                stored_params=stored_params / stage_tp,
                expert_bytes=experts / stage_tp,
            )
        )
    if settings.parallel and settings.parallel > 1 and engine == "llama.cpp":
        notes.append(f"decode speed is for one sequence; {settings.parallel} slots share the GPU (see serving throughput)")
    n_ubatch = settings.n_ubatch or (512 if engine == "llama.cpp" else settings.max_num_batched_tokens or 2048)
    n_batch = settings.n_batch or n_ubatch
    return SpeedPlan(
        engine=engine,
        backend=estimate.backend,
        stages=stages,
        hidden=model.hidden_size,
        flash_attn=flash,
        kv_reread=reread,
        expert_fraction=weights.active_expert_fraction,
        quantized_gguf=quantized,
        n_ubatch=n_ubatch,
        n_batch=max(n_batch, n_ubatch),
        constants=constants,
        notes=notes,
        prefill_missing=missing,
    )


# --------------------------------------------------------------------------- formulas


def cpu_gops(plan: SpeedPlan, stage: Stage) -> float:
    """Dot-product rate of a CPU stage: cores × the per-core rate of its SIMD class."""
    return (stage.cpu_cores or 1) * plan.constants["cpu"]["gops_per_core"][stage.cpu_isa or "avx2"]["value"]


def _kv_bytes(stage: Stage, depth: float) -> float:
    """K+V bytes one token's attention reads on this stage at `depth` cached tokens."""
    total = stage.kv_full_bytes_per_cell * depth
    for window, per_cell in stage.kv_windowed:
        total += per_cell * min(depth, window)
    return total


def _decode(plan: SpeedPlan, stage: Stage) -> dict[str, Any]:
    c, _ = kind_constants(plan.constants, plan.engine, "decode", stage.kind)
    if c.get("layer_overhead_us") is None:
        # Another engine's per-layer floor for this device kind (vLLM: llama.cpp's current builds,
        # which also replay decode as CUDA graphs).
        other, _ = kind_constants(plan.constants, c["layer_overhead_from"], "decode", stage.kind)
        c = {**c, "layer_overhead_us": other["layer_overhead_us"]}
    return c


def _step_weight_bytes(plan: SpeedPlan, stage: Stage, batch: int) -> float:
    """Weight bytes one decode step reads: with B sequences, each routed expert is read if any of them uses it.

    With routing spread evenly, an expert is untouched by all B tokens with probability (1 − k/E)^B.
    """
    if batch <= 1 or not stage.expert_bytes or plan.expert_fraction >= 1:
        return stage.weight_bytes
    dense = stage.weight_bytes - stage.expert_bytes * plan.expert_fraction
    return dense + stage.expert_bytes * (1 - (1 - plan.expert_fraction) ** batch)


def decode_step_seconds(plan: SpeedPlan, depth: float, batch: int = 1) -> float:
    """Seconds of one decode step for `batch` sequences at context depth `depth` (each)."""
    shared = plan.constants["engines"][plan.engine]["decode_shared"]
    total = 0.0
    for stage in plan.stages:
        c = _decode(plan, stage)
        # Without flash attention each query head of a group reads the group's K/V again; the fitted
        # `attention_kv_factor` is the share of those re-reads that reaches memory (L2 serves the rest).
        reread = 1.0 + (plan.kv_reread - 1.0) * c.get("attention_kv_factor", 1.0)
        bytes_read = _step_weight_bytes(plan, stage, batch) + batch * reread * _kv_bytes(stage, depth)
        memory = bytes_read / (c["bandwidth_efficiency"] * stage.bandwidth_gb_s * GB)
        compute = 0.0
        if stage.backend == "cpu":
            compute = 2 * stage.params * batch / (cpu_gops(plan, stage) * 1e9)
        else:
            if plan.quantized_gguf and stage.gpu_cores and c.get("dequant_gweights_per_core"):
                # Metal unpacks block-quantized weights on the GPU's ALUs (once per step, also batched):
                # on GPUs with few or slow cores that, not memory, sets the pace.
                compute = stage.params / (stage.gpu_cores * c["dequant_gweights_per_core"] * 1e9)
            if batch > 1 and stage.tflops:
                compute = max(compute, 2 * stage.params * batch / (_tflops(plan, stage) * 1e12))
        launch = plan.launch_scale if stage.backend in ("cuda", "rocm") else 1.0
        total += max(memory, compute) + stage.layers * c["layer_overhead_us"] * US * launch
        if stage.tp > 1 and stage.link is not None:
            total += stage.layers * 2 * allreduce_seconds(stage.tp, plan.hidden * 2 * batch, stage.link)
    for previous, following in zip(plan.stages, plan.stages[1:]):
        across = previous.host != following.host
        total += (plan.constants["links"]["network_hop_us"] if across else shared["device_hop_us"]) * US
    return total


def _prefill_constants(plan: SpeedPlan, stage: Stage, kind: Optional[str] = None) -> dict[str, Any]:
    c, _ = kind_constants(plan.constants, plan.engine, "prefill", kind or stage.kind)
    return c


def _tflops(plan: SpeedPlan, stage: Stage, kind: Optional[str] = None, p: Optional[dict[str, Any]] = None) -> float:
    """Achieved matmul TFLOPS of a stage's GPU (η_p of its kind, capped by its generation's power)."""
    p = p or _prefill_constants(plan, stage, kind)
    per_watt = tflops_per_watt(plan.constants, stage.power_key)
    return achieved_tflops(stage.tflops, p["compute_efficiency"], stage.tdp_w, per_watt, stage.fp16_equivalent) or 0.0


def _ubatch_stage_seconds(plan: SpeedPlan, stage: Stage, n: int, depth: float) -> float:
    """One micro-batch of `n` tokens at `depth` through one stage."""
    p = _prefill_constants(plan, stage)
    d = _decode(plan, stage)
    context = depth + n / 2  # mean keys per query in this micro-batch
    flops = 2 * stage.params * n + 4 * stage.attn_width * n * context
    if stage.backend == "cpu":
        if stage.pcie_weight_bytes and stage.tflops and n >= OFFLOAD_MIN_BATCH:
            seconds = flops / (_tflops(plan, stage, stage.offload_kind) * 1e12)
            seconds += stage.pcie_weight_bytes / (stage.pcie_gb_s * GB * plan.constants["links"]["pcie_efficiency"])
            return seconds + stage.layers * p["layer_overhead_us"] * US
        return flops / (p["compute_efficiency"] * cpu_gops(plan, stage) * 1e9) + stage.layers * p["layer_overhead_us"] * US
    seconds = flops / (_tflops(plan, stage, p=p) * 1e12)
    bandwidth = d["bandwidth_efficiency"] * stage.bandwidth_gb_s * GB
    if plan.engine == "llama.cpp" and stage.backend in ("cuda", "rocm") and plan.quantized_gguf and n > DEQUANT_MIN_BATCH:
        # Read the quantized weights, write them as F16 for cuBLAS (a 512-token batch touches every expert).
        seconds += (stage.stored_bytes + 2 * stage.stored_params) / bandwidth
    if not plan.flash_attn:
        keys = depth + n
        seconds += stage.score_heads * n * keys * F32 * p["score_passes"] / bandwidth
    if stage.tp > 1 and stage.link is not None:
        seconds += stage.layers * 2 * allreduce_seconds(stage.tp, plan.hidden * 2 * n, stage.link)
    return seconds + stage.layers * p["layer_overhead_us"] * US


def prefill_seconds(plan: SpeedPlan, tokens: int, depth: int = 0) -> Optional[float]:
    """Seconds to process a `tokens`-token prompt on top of `depth` cached tokens; None if unknown."""
    if plan.prefill_missing or tokens <= 0:
        return None if plan.prefill_missing else 0.0
    shared = plan.constants["engines"][plan.engine]["prefill_shared"]
    hop_bytes_per_token = plan.hidden * F32
    total = 0.0
    done = 0
    while done < tokens:
        batch = min(plan.n_batch, tokens - done)
        ubatches = []
        position = depth + done
        left = batch
        while left > 0:
            n = min(plan.n_ubatch, left)
            per_stage = [_ubatch_stage_seconds(plan, s, n, position) for s in plan.stages]
            hop = n * hop_bytes_per_token / (shared["hop_gb_s"] * GB) + shared["hop_latency_us"] * US
            ubatches.append((per_stage, hop))
            position += n
            left -= n
        if len(plan.stages) == 1:
            total += sum(stages[0] for stages, _ in ubatches)
        else:
            # Pipeline: the first micro-batch crosses every stage; with perfect overlap each later one adds
            # only the slowest stage, without any it adds them all.  `pipeline_overlap` is between.
            overlap = shared["pipeline_overlap"]
            first, hop = ubatches[0]
            total += sum(first) + hop * (len(first) - 1)
            for stages, hop in ubatches[1:]:
                serial = sum(stages) + hop * (len(stages) - 1)
                total += serial - overlap * (serial - max(stages) - hop)
        done += batch
    return total


# --------------------------------------------------------------------------- results


def _fit_note(plan: SpeedPlan) -> Optional[str]:
    kinds = sorted({s.kind for s in plan.stages})
    parts = []
    for kind in kinds:
        c, fitted_for = kind_constants(plan.constants, plan.engine, "decode", kind)
        fit = c.get("fit", {})
        where = f" ({fitted_for} constants)" if fitted_for != kind else ""
        if fit.get("rows"):
            parts.append(f"{kind}{where}: fitted on {fit['rows']} rows, median error {fit.get('median_abs_error_pct', '?')}%")
        else:
            parts.append(f"{kind}{where}: {fit.get('basis', 'assumed')}")
    return f"{plan.engine} decode model — " + "; ".join(parts) if parts else None


def attach_throughput(estimate: Estimate, model: ModelEntry, weights: Weights, machine: Machine, prompt_tokens: int) -> None:
    """Fill ``estimate.throughput`` for one sequence: decode after the prompt, prefill and time to first token."""
    prompt = max(int(prompt_tokens or 0), 1)
    notes: list[str] = []
    try:
        plan = build_plan(estimate, model, weights, machine)
    except (KeyError, ZeroDivisionError) as exc:  # a device or engine data/speed.json does not cover
        estimate.throughput = Throughput(prompt_tokens=prompt, notes=[f"speed not estimated: {exc}"])
        return
    notes.extend(plan.notes)
    if estimate.fits is False:
        notes.append("the model does not fit as planned: speeds assume it did")
    decode = None
    if all(math.isfinite(s.bandwidth_gb_s) and s.bandwidth_gb_s > 0 for s in plan.stages):
        seconds = decode_step_seconds(plan, depth=prompt)
        decode = 1.0 / seconds if seconds > 0 else None
    else:
        notes.append("decode not estimated: a device's memory bandwidth is unknown")
    prefill = ttft = None
    if plan.prefill_missing:
        notes.append("prefill not estimated: " + "; ".join(plan.prefill_missing))
    else:
        seconds = prefill_seconds(plan, prompt)
        if seconds:
            prefill, ttft = prompt / seconds, seconds
    notes.append(
        f"decode at {prompt:,} tokens of context"
        + ("" if plan.kv_reread == 1 else f"; without flash attention each K/V row is read by {plan.kv_reread:g} query heads")
    )
    note = _fit_note(plan)
    if note:
        notes.append(note)
    estimate.throughput = Throughput(
        decode_tokens_per_s=round(decode, 2) if decode else None,
        prefill_tokens_per_s=round(prefill, 1) if prefill else None,
        time_to_first_token_s=round(ttft, 4) if ttft else None,
        prompt_tokens=prompt,
        notes=notes,
    )


def serving_throughput(
    estimate: Estimate, model: ModelEntry, weights: Weights, machine: Machine, users: int, *, depth: Optional[int] = None
) -> tuple[float, float]:
    """(aggregate, per-user) decode tokens/s with `users` concurrent sequences.

    One step decodes every running sequence: the weights are read once for all of them, each adds its
    own KV read, and the matmuls cost 2 × active parameters per sequence — whichever of memory and
    compute is slower sets the step.  The batch is capped by what the KV cache holds
    (``memory.max_concurrency`` for vLLM/TGI, the slots for llama.cpp); users beyond it wait their turn.
    """
    if users < 1:
        raise ValueError("users must be at least 1")
    plan = build_plan(estimate, model, weights, machine)
    capacity = estimate.memory.max_concurrency
    if capacity is None:
        capacity = float(estimate.settings.parallel or 1)
    batch = max(1, min(users, int(capacity))) if capacity >= 1 else 1
    if depth is None:
        depth = (estimate.throughput.prompt_tokens if estimate.throughput and estimate.throughput.prompt_tokens else 512)
    step = decode_step_seconds(plan, depth=depth, batch=batch)
    aggregate = batch / step
    return aggregate, aggregate / max(users, batch)
