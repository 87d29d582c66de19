"""llama.cpp (`llama-server`): GGUF weights, a padded KV cache, graph compute buffers, layer offload.

Every rule here is read from llama.cpp's source at the commit named in ../shared/ENGINES.md
(`src/llama-context.cpp`, `src/llama-kv-cache-iswa.cpp`, `src/llama-model.cpp`) or fitted to
the buffer sizes llama.cpp logs (../shared/ground_truth/runtime_logs.json); each constant says which.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Optional

from sizer.engines.base import (
    breakdown,
    gpu_context_bytes,
    MIB,
    Engine,
    EngineResult,
    Request,
    check_positive,
    device_capacity,
    pad,
)
from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate import kv as kvmod
from sizer.estimate.result import DeviceMemory, Settings, Unknown
from sizer.estimate.weights import Weights
from sizer.types import Accelerator, Host, Machine, ModelEntry

# common/common.h (ENGINES.md; runtime_logs constants const-llamacpp-common-defaults)
DEFAULT_N_BATCH = 2048
DEFAULT_N_UBATCH = 512
FIT_TARGET_BYTES = 1024 * MIB  # --fit-target: free margin --fit leaves per device
# src/llama-context.cpp: "cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)"; same pad per slot
CTX_PAD = 256
# src/llama-kv-cache-iswa.cpp: "the SWA cache is always padded to 256"
SWA_PAD = 256
# sizer's default context when the user gives none (llama-server alone takes n_ctx_train and
# lets --fit shrink it; a plan must be reproducible, so sizer names a context explicitly).
DEFAULT_CTX = 8192
MAX_CTX = 1 << 24

# Cache types llama.cpp accepts for -ctk/-ctv (common/arg.cpp via ENGINES.md).
KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")

# GGUF file types llama.cpp's quantizer writes (llama-quantize's list); gguf_quant owns the rules.
GGUF_QUANTS = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1",
    "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "IQ3_XS", "IQ3_XXS", "Q2_K", "Q2_K_S",
    "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S", "MXFP4_MOE",
)  # fmt: skip


@dataclass(frozen=True)
class Kv:
    """The KV layout llama.cpp derives from -c, -np and -ub."""

    n_ctx: int  # total cells of a full-attention layer (all streams)
    n_ctx_seq: int  # cells one sequence may use
    streams: int  # 1 with a unified cache, else one per slot
    swa_cells: int  # cells of a sliding/chunked layer (all streams)


def kv_layout(model: ModelEntry, ctx: int, parallel: int, n_ubatch: int, *, swa_full: bool = False) -> Kv:
    """Cells per layer kind, as llama_context and llama_kv_cache_iswa size them."""
    n_ctx = pad(ctx * parallel, CTX_PAD)
    unified = parallel == 1  # an explicit -np N turns the unified cache off (common/common.h: kv_unified=false)
    if unified:
        n_ctx_seq, streams = n_ctx, 1
    else:
        n_ctx_seq = pad(n_ctx // parallel, CTX_PAD)
        n_ctx, streams = n_ctx_seq * parallel, parallel
    window = model.sliding_window or model.attention_chunk_size or 0
    if swa_full or not window:
        swa_per_stream = n_ctx_seq
    else:
        swa_per_stream = pad(min(n_ctx_seq, window * (parallel if unified else 1) + n_ubatch), SWA_PAD)
    return Kv(n_ctx=n_ctx, n_ctx_seq=n_ctx_seq, streams=streams, swa_cells=swa_per_stream * streams)


def layer_cells(model: ModelEntry, layer: int, layout: Kv) -> int:
    kind = model.layer_kind(layer)
    if kind in ("S", "C"):
        return layout.swa_cells
    if kind == "L":
        return 0
    return layout.n_ctx


def layer_kv_bytes(model: ModelEntry, layout: Kv, type_k: str, type_v: str) -> list[int]:
    shapes = kvmod.layer_cache_shapes(model)
    return [kvmod.layer_cache_bytes(s, layer_cells(model, i, layout), type_k, type_v) for i, s in enumerate(shapes)]


# ---------------------------------------------------------------------------- compute buffers
#
# ggml's graph allocator reuses memory, so a backend's compute buffer is the peak of the tensors
# alive at once, not their sum.  Fitted mechanism (each term a tensor llama.cpp builds, f32):
#   attention without flash attention: KQ scores n_head x n_kv x n_ubatch + the mask n_kv x n_ubatch
#                                      + 4 activations n_embd x n_ubatch
#   attention with flash attention:    the f16 mask n_kv x n_ubatch + 4 activations (no KQ matrix)
#   dense FFN:                         gate and up, 2 x n_ff x n_ubatch
#   MoE FFN:                           gate and up for each used expert, 2 x n_ff_exp x n_used x n_ubatch
#   output layer:                      logits n_vocab x n_ubatch + the normed input n_embd x n_ubatch
# Checked against runtime_logs llama_cpp records (Mistral-7B 2k/32k no-FA: 164/2144 MiB; 4-GPU 7B:
# 296 MiB; Qwen2.5-3B: 300.75 MiB; TriLM: 105 MiB) in tests/estimate/test_llamacpp_runtime.py.
F32 = 4


# ggml-cpu/repack.cpp (ggml_repack_get_optimal_repack_type) on x86: weights of these types that a
# MUL_MAT / MUL_MAT_ID uses, with rows a multiple of 8, move into an interleaved CPU_REPACK buffer
# (Q2_K only with AVX-512).  Measured with llama.cpp 0c1e570 on an AVX2/AVX-512 EPYC: the rule
# reproduces every CPU_REPACK buffer in benchmarks/llamacpp_measured.json.  The bytes move, they are
# not added (without mmap CPU + CPU_REPACK = the tensor data; with mmap the repacked tensors' file
# pages stay as reclaimable page cache).  ARM's repack types are not modelled.
REPACK_TYPES_X86 = {"avx2": frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}), "avx512f": frozenset({"Q2_K"})}


def cpu_repack_bytes(weights: Weights, features: list[str], cpu_layer_share: float) -> Optional[int]:
    """Weight bytes llama.cpp repacks for the CPU's layers; None where the rule is not known (ARM)."""
    if "avx2" not in features:
        return None if ("neon" in features or "asimd" in features) else 0
    types = set().union(*(REPACK_TYPES_X86[f] for f in REPACK_TYPES_X86 if f in features))
    total = sum(size for ggml_type, size in weights.repackable_bytes if ggml_type in types)
    return int(total * cpu_layer_share)


# Backends with ggml-cuda's memory pool (CUDA, and ROCm through HIP); Metal and the CPU have none.
CUDA_POOL_VENDORS = frozenset({"nvidia", "amd"})

# Architectures whose GGUF stores gate and up as one fused ffn_up (2 x n_ff rows): llama.cpp's build
# (src/llama-model.cpp, LLM_FFN_SWIGLU on the fused tensor) leaves an n_ff-sized block that the
# graph allocator (ggml-alloc.c, best fit else above the highest block in use) cannot reuse for the
# logits, so the output stage holds it too.  Measured: Phi-3-mini ub512 with flash attention
# 90.6 MiB = (n_vocab + n_ff + 2 n_embd) x 512 x 4 (benchmarks/llamacpp_measured.json).
FUSED_GATE_UP_ARCHITECTURES = frozenset({"phi3"})


def _attention_peak(model: ModelEntry, n_kv: int, n_ubatch: int, flash_attn: bool) -> int:
    scores = 0 if flash_attn else model.num_attention_heads * n_kv * n_ubatch * F32
    mask = n_kv * n_ubatch * (2 if flash_attn else F32)
    if model.is_mla:
        # MLA attends in the latent space: q_nope absorbed into the latent (kv_lora_rank per head), the
        # query concatenated with its RoPE part (kv_lora_rank + rope) and the latent output (kv_lora_rank)
        # are alive together (models/deepseek2.cpp, build_attn_mha's v_mla branch).  Measured on a
        # 128-head DeepSeek-V3 shape: 412 MiB with flash attention at ub512 (this gives 404).
        latent = model.kv_lora_rank or 0
        per_head = 3 * latent + (model.qk_rope_head_dim or 0)
        return scores + mask + model.num_attention_heads * per_head * n_ubatch * F32
    return scores + mask + 4 * model.hidden_size * n_ubatch * F32


def _ffn_peak(model: ModelEntry, layer: int, n_ubatch: int) -> int:
    if model.is_moe_layer(layer):
        routed = 2 * model.moe_intermediate_size * model.num_experts_per_token * n_ubatch * F32  # type: ignore[operator]
        shared_width = model.shared_expert_intermediate_size or (model.moe_intermediate_size or 0) * model.num_shared_experts
        return routed + 2 * shared_width * n_ubatch * F32
    return 2 * model.intermediate_size * n_ubatch * F32


def cuda_pool_peak(model: ModelEntry, layer: int, layout: Kv, n_ubatch: int, flash_attn: bool, type_k: str, type_v: str) -> int:
    """Scratch the CUDA backend takes from its memory pool while a prompt runs, beyond the compute buffer.

    ggml-cuda.cu, ggml_cuda_mul_mat_batched_cublas: without flash attention the softmaxed scores
    (f32) are converted to f16 in the pool for the KQ x V GEMM, n_head x n_kv x n_ubatch x 2 bytes;
    with flash attention and a quantized cache, one layer's K and V are converted to f16 there.  The
    pool keeps its peak, so this is held from the first long prompt on: why Qwen3-32B at 45k context on
    2x RTX 3090 loads and then runs out of memory (runtime_logs lcpp-qwen3-32b-q5km-2x3090-ctx-sweep).
    """
    if model.layer_kind(layer) == "L":
        return 0
    cells = layer_cells(model, layer, layout)
    n_kv = cells // layout.streams if layout.streams > 1 else cells
    if not flash_attn:
        return model.num_attention_heads * n_kv * n_ubatch * 2
    if kvmod.is_quantized_cache(type_k) or kvmod.is_quantized_cache(type_v):
        shape = kvmod.layer_cache_shapes(model)[layer]
        return n_kv * (shape.k_elements + shape.v_elements) * 2
    return 0


def output_peak(model: ModelEntry, n_ubatch: int) -> int:
    """The output stage: f32 logits for a whole ubatch, plus what is alive beside them.

    Two n_embd x n_ubatch tensors at the current build (the last layer's rows gathered by
    inp_out_ids, which llama-graph.cpp now always builds, and the normed input): Llama-3.2-1B on the
    CPU 258.5 MiB = (128256 + 2 x 2048) x 512 x 4, and every shape in benchmarks/llamacpp_measured.json.
    Builds of early 2025 logged one (Qwen2.5-3B, CUDA, build 4701: 300.75 MiB), 1.3% below this.
    """
    alive = model.vocab_size + 2 * model.hidden_size
    if model.architecture in FUSED_GATE_UP_ARCHITECTURES:
        alive += model.intermediate_size
    return alive * n_ubatch * F32


def layer_compute_peak(model: ModelEntry, layer: int, layout: Kv, n_ubatch: int, flash_attn: bool) -> int:
    cells = layer_cells(model, layer, layout)
    n_kv = cells // layout.streams if layout.streams > 1 else cells
    return max(_attention_peak(model, n_kv, n_ubatch, flash_attn), _ffn_peak(model, layer, n_ubatch))


def host_input_bytes(model: ModelEntry, layout: Kv, n_ubatch: int) -> int:
    """The host-side compute buffer of a fully offloaded model: the f32 KQ mask and the input embeddings.

    Fitted to CUDA_Host compute buffers: 12.01 MiB (Mistral-7B, 2k), 72.01 MiB (32k), 16.01 MiB (7B, 4k).
    """
    n_kv = layout.n_ctx_seq if layout.streams > 1 else layout.n_ctx
    return n_kv * n_ubatch * F32 + model.hidden_size * n_ubatch * F32


def output_buffer_bytes(model: ModelEntry, parallel: int) -> int:
    """llama_context's output buffer: one row of f32 logits per sequence (0.58 MiB for 151936 tokens)."""
    return model.vocab_size * F32 * parallel


# ---------------------------------------------------------------------------- placement


def device_prefix(accelerator: Accelerator) -> str:
    return {"nvidia": "cuda", "amd": "rocm", "apple": "metal"}.get(accelerator.vendor, "gpu")


def layer_devices(n_layer: int, gpu_layers: int, split: list[float]) -> list[Optional[int]]:
    """Device index of each layer 0..n_layer (the last entry is the output layer); None = CPU.

    llama_model::load_tensors: the *last* `gpu_layers` layers go to the GPUs (the output layer counts
    as layer n_layer), split by cumulative `--tensor-split` proportions with upper_bound.
    """
    i_gpu_start = max(n_layer - gpu_layers, 0)
    act_gpu_layers = min(gpu_layers, n_layer + 1) if split else 0
    total = sum(split) or 1.0
    cumulative, running = [], 0.0
    for share in split:
        running += share / total
        cumulative.append(running)
    devices: list[Optional[int]] = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or (il - i_gpu_start) >= act_gpu_layers:
            devices.append(None)
            continue
        position = (il - i_gpu_start) / act_gpu_layers
        devices.append(min(bisect.bisect_right(cumulative, position), len(split) - 1))
    return devices


class LlamaCpp(Engine, name="llama.cpp"):
    """llama.cpp's llama-server."""

    label = "llama.cpp (llama-server)"
    weights_format = "gguf"
    kv_cache_types = KV_TYPES
    aliases = ("llamacpp", "llama-cpp", "llama-server", "llama_cpp")

    # The file types published GGUF repos carry, best first.
    LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "IQ3_M", "IQ2_M")
    NATIVE_LADDERS = {"mxfp4": ("MXFP4_MOE",)}
    SMALL_MODEL_EXTRA = ("F16",)
    KV_FALLBACKS = ({"kv_type": "q8_0", "flash_attn": True},)
    FIT_BONUS = (0.03, 0.0)

    def default_quant(self, model: ModelEntry) -> str:
        return "MXFP4_MOE" if model.native_quant == "mxfp4" else "Q4_K_M"

    def recommendation_reasons(self, model: ModelEntry, placement: Optional[str], users: int, many_users: bool) -> list[str]:
        return ["llama-server takes the exact -ngl this plan computed"] if placement == "partial-offload" else []

    def quant_names(self) -> tuple[str, ...]:
        return GGUF_QUANTS

    def cannot_run(self, model: ModelEntry, quant: str, machine: Optional[Machine]) -> Optional[str]:
        if quant.upper() not in GGUF_QUANTS:
            return f"{self.name} runs GGUF files; '{quant}' is not a GGUF type"
        return None

    # --- settings ---------------------------------------------------------------------
    def default_ctx(self, model: ModelEntry, machine: Optional[Machine]) -> int:
        return min(DEFAULT_CTX, model.max_context)

    def default_parallel(self) -> int:
        return 1

    def default_batches(self) -> tuple[int, int]:
        return DEFAULT_N_BATCH, DEFAULT_N_UBATCH

    def resolve(self, model: ModelEntry, request: Request, machine: Optional[Machine]) -> tuple[Settings, list[str]]:
        warnings: list[str] = []
        check_positive("context length", request.ctx, maximum=MAX_CTX)
        check_positive("parallel sequences", request.parallel, maximum=4096)
        check_positive("ubatch", request.n_ubatch, maximum=65536)
        check_positive("batch", request.n_batch, maximum=1 << 20)
        ctx = request.ctx or self.default_ctx(model, machine)
        parallel = request.parallel or self.default_parallel()
        if ctx > model.max_context:
            warnings.append(f"context {ctx:,} is beyond the model's trained {model.max_context:,} tokens; quality degrades past it")
        type_k = (request.kv_type or "f16").lower()
        type_v = (request.kv_type_v or request.kv_type or "f16").lower()
        for cache_type in (type_k, type_v):
            if cache_type not in KV_TYPES:
                raise InvalidInputError(f"{self.name} has no KV cache type '{cache_type}'; choose from {', '.join(KV_TYPES)}")
        flash_attn = True if request.flash_attn is None else request.flash_attn
        if kvmod.is_quantized_cache(type_v) and not flash_attn:
            raise UnsupportedError(f"{self.name} needs flash attention for a quantized V cache ({type_v}); drop --no-flash-attn")
        default_batch, default_ubatch = self.default_batches()
        layout_ctx = pad(ctx * parallel, CTX_PAD)
        n_batch = min(request.n_batch or default_batch, layout_ctx)
        n_ubatch = min(request.n_ubatch or default_ubatch, n_batch)
        settings = Settings(
            ctx=ctx,
            parallel=parallel,
            kv_type_k=type_k,
            kv_type_v=type_v,
            flash_attn=flash_attn,
            n_batch=n_batch,
            n_ubatch=n_ubatch,
            gpu_layers=request.gpu_layers,
        )
        return settings, warnings

    # --- memory ------------------------------------------------------------------------
    def estimate(self, model: ModelEntry, weights: Weights, request: Request, machine: Optional[Machine]) -> EngineResult:
        settings, warnings = self.resolve(model, request, machine)
        unknowns: list[Unknown] = []
        layout = kv_layout(model, settings.ctx, settings.parallel, settings.n_ubatch)  # type: ignore[arg-type]
        settings.n_ctx = layout.n_ctx
        host = machine.hosts[0] if machine else None
        if machine and len(machine.hosts) > 1:
            warnings.append(f"{self.name} runs on one host here (llama.cpp's --rpc is not planned): using {machine.hosts[0].hostname or 'the first host'}")
        accelerators = list(host.accelerators) if host else []
        n_layer = model.num_layers
        plan = _Plan(self, model, weights, settings, layout, host, accelerators)
        if request.gpu_layers is not None:
            if not 0 <= request.gpu_layers <= n_layer + 1:
                raise InvalidInputError(f"--gpu-layers must be between 0 and {n_layer + 1} for this model, got {request.gpu_layers}")
            gpu_layers = request.gpu_layers if accelerators else 0
            devices = plan.place(gpu_layers)
        else:
            gpu_layers, devices = plan.fit()
        settings.gpu_layers = gpu_layers
        if accelerators and len(accelerators) > 1:
            settings.tensor_split = plan.split
        memory = breakdown(devices)
        placement = None
        fits: Optional[bool] = None
        if machine is not None:
            placement = plan.placement(gpu_layers)
            verdicts = [d.fits for d in devices]
            fits = False if False in verdicts else (None if None in verdicts and plan.cpu_has_layers(gpu_layers) else True)
            if plan.cpu_capacity is None and plan.cpu_has_layers(gpu_layers):
                unknowns.append(Unknown(field="memory.devices.cpu.capacity_bytes", reason="system RAM not given; add @GB to the hardware spec"))
        if model.layer_pattern and "L" in model.layer_pattern and not model.linear_state_bytes_per_layer:
            unknowns.append(Unknown(field="memory.kv_cache_bytes", reason="recurrent state size of the linear-attention layers is unknown for this model"))
        return EngineResult(settings=settings, memory=memory, placement=placement, fits=fits, warnings=warnings, unknowns=unknowns)


class _Plan:
    """Per-device memory for a given number of offloaded layers."""

    def __init__(self, engine: LlamaCpp, model: ModelEntry, weights: Weights, settings: Settings, layout: Kv, host: Optional[Host], accelerators: list[Accelerator]):
        self.engine = engine
        self.model = model
        self.weights = weights
        self.settings = settings
        self.layout = layout
        self.host = host
        self.accelerators = accelerators
        self.kv_per_layer = layer_kv_bytes(model, layout, settings.kv_type_k, settings.kv_type_v)
        ubatch = settings.n_ubatch or DEFAULT_N_UBATCH
        self.layer_peaks = [layer_compute_peak(model, il, layout, ubatch, bool(settings.flash_attn)) for il in range(model.num_layers)]
        self.pool_peaks = [
            cuda_pool_peak(model, il, layout, ubatch, bool(settings.flash_attn), settings.kv_type_k, settings.kv_type_v)
            for il in range(model.num_layers)
        ]
        self.state_bytes = kvmod.linear_state_bytes(model, settings.parallel)
        capacities = [device_capacity(a) for a in accelerators]
        # llama.cpp's default --tensor-split is each device's free memory.
        self.split = settings.tensor_split or [float(c or 1) for c in capacities]
        self.unified = bool(accelerators) and all(a.unified_memory for a in accelerators)
        memory = host.memory if host else None
        self.cpu_capacity = (memory.available_bytes or memory.usable_bytes) if memory else None

    def cpu_has_layers(self, gpu_layers: int) -> bool:
        return gpu_layers <= self.model.num_layers

    def placement(self, gpu_layers: int):
        if not self.accelerators or gpu_layers == 0:
            return "cpu"
        if self.unified and gpu_layers > self.model.num_layers:
            return "unified-memory"
        if gpu_layers <= self.model.num_layers:
            return "partial-offload"
        used = {d for d in layer_devices(self.model.num_layers, gpu_layers, self.split) if d is not None}
        return "multi-gpu" if len(used) > 1 else "gpu"

    def _terms(self, gpu_layers: int) -> tuple[list[dict[str, int]], list[int], int]:
        """Memory terms of each device (the last one is the CPU) for -ngl gpu_layers."""
        model, weights, settings = self.model, self.weights, self.settings
        n_layer = model.num_layers
        ubatch = settings.n_ubatch or DEFAULT_N_UBATCH
        owners = layer_devices(n_layer, gpu_layers, self.split if self.accelerators else [])
        count = len(self.accelerators)
        slots = [count if owner is None else owner for owner in owners]
        layers_on = [0] * (count + 1)
        layer_weights = [0] * (count + 1)
        kv_cache = [0] * (count + 1)
        peaks = [0] * (count + 1)
        pools = [0] * (count + 1)
        for il in range(n_layer):
            d = slots[il]
            layers_on[d] += 1
            layer_weights[d] += weights.layer_bytes[il]
            kv_cache[d] += self.kv_per_layer[il]
            if self.layer_peaks[il] > peaks[d]:
                peaks[d] = self.layer_peaks[il]
            if self.pool_peaks[il] > pools[d]:
                pools[d] = self.pool_peaks[il]
        per: list[dict[str, int]] = [{"weights_layers": layer_weights[d], "kv_cache": kv_cache[d]} for d in range(count + 1)]
        out = slots[n_layer]
        per[out]["weights_output"] = weights.output_head_bytes if out != count else weights.output_bytes
        peaks[out] = max(peaks[out], output_peak(model, ubatch))
        # The input embeddings always stay in host memory (llama_model::load_tensors: input layer on CPU).
        per[count]["weights_token_embd"] = weights.token_embd_bytes
        if weights.other_bytes:
            per[count]["weights_unused_layers"] = weights.other_bytes
        if self.state_bytes:
            per[slots[n_layer - 1]]["recurrent_state"] = self.state_bytes
        for d in range(count):
            if layers_on[d] or out == d:
                per[d]["compute"] = peaks[d]
                per[d]["gpu_context"] = gpu_context_bytes(self.accelerators[d])
                if self.accelerators[d].vendor in CUDA_POOL_VENDORS:
                    per[d]["cuda_pool"] = pools[d]
        host_compute = host_input_bytes(model, self.layout, ubatch)
        if layers_on[count] or out == count or not self.accelerators:
            host_compute = max(host_compute, peaks[count])
        per[count]["compute"] = host_compute
        per[count]["output_buffer"] = output_buffer_bytes(model, settings.parallel)
        if layers_on[count] and self.host is not None and weights.format == "gguf":
            repack = cpu_repack_bytes(weights, self.host.cpu.features, layers_on[count] / n_layer)
            if repack:
                per[count]["cpu_repack"] = repack  # informational: part of weights_layers, moved not added
        return per, layers_on, out

    def _gpu_headrooms(self, gpu_layers: int) -> list[Optional[int]]:
        """Free bytes each GPU in use keeps (None where its capacity is unknown), without building records."""
        per, layers_on, out = self._terms(gpu_layers)
        count = len(self.accelerators)
        cpu_total = _device_total(per[count])
        headrooms = []
        for d in range(count):
            if not (layers_on[d] or out == d):
                continue
            capacity = self._capacity(d, cpu_total)
            headrooms.append(None if capacity is None else capacity - _device_total(per[d]))
        return headrooms

    def _capacity(self, d: int, cpu_total: int) -> Optional[int]:
        """A GPU's capacity; on unified memory also what the CPU side leaves of the shared RAM."""
        capacity = device_capacity(self.accelerators[d])
        if self.unified and capacity is not None and self.host and self.host.memory.usable_bytes:
            shared = (self.host.memory.available_bytes or self.host.memory.usable_bytes) - cpu_total
            capacity = min(capacity, shared)
        return capacity

    def place(self, gpu_layers: int) -> list[DeviceMemory]:
        per, layers_on, out = self._terms(gpu_layers)
        count = len(self.accelerators)
        cpu_total = _device_total(per[count])
        devices = []
        for d in range(count + 1):
            terms = {f"{k}_bytes": v for k, v in per[d].items() if v}
            if d < count:
                if not (layers_on[d] or out == d):
                    continue
                accelerator = self.accelerators[d]
                name = f"{device_prefix(accelerator)}{accelerator.index}"
                kind = "unified" if accelerator.unified_memory else "gpu"
                capacity = self._capacity(d, cpu_total)
            else:
                # Apple: the CPU side lives in the same RAM as the GPU's (whose own limit is its working set).
                name, kind, capacity = "cpu", "unified" if self.unified else "cpu", self.cpu_capacity
            devices.append(_device(name, self._name(d), kind, layers_on[d], terms, capacity))
        return devices

    def _name(self, d: int) -> Optional[str]:
        if d < len(self.accelerators):
            return self.accelerators[d].name
        return self.host.cpu.brand if self.host else None

    def fit(self) -> tuple[int, list[DeviceMemory]]:
        """The largest -ngl whose GPU buffers leave --fit-target free on every GPU (llama-server --fit).

        GPU memory only grows with -ngl, so a binary search finds the same answer as trying each value.
        """
        if not self.accelerators:
            return 0, self.place(0)

        def fits(gpu_layers: int) -> bool:
            return all(h is None or h >= FIT_TARGET_BYTES for h in self._gpu_headrooms(gpu_layers))

        best, low, high = 0, 1, self.model.num_layers + 1
        while low <= high:
            middle = (low + high) // 2
            if fits(middle):
                best, low = middle, middle + 1
            else:
                high = middle - 1
        return best, self.place(best)


INFORMATIONAL_TERMS = frozenset({"cpu_repack"})


def _device_total(terms: dict[str, int]) -> int:
    return sum(v for k, v in terms.items() if k not in INFORMATIONAL_TERMS)


def _device(name: str, hardware: Optional[str], kind: str, layers: int, terms: dict[str, int], capacity: Optional[int]) -> DeviceMemory:
    weights = sum(v for k, v in terms.items() if k.startswith("weights_"))
    kv_cache = terms.get("kv_cache_bytes", 0) + terms.get("recurrent_state_bytes", 0)
    compute = terms.get("compute_bytes", 0) + terms.get("output_buffer_bytes", 0) + terms.get("cuda_pool_bytes", 0)
    overhead = terms.get("gpu_context_bytes", 0)
    total = weights + kv_cache + compute + overhead
    headroom = capacity - total if capacity is not None else None
    return DeviceMemory(
        device=name,
        name=hardware,
        kind=kind,  # type: ignore[arg-type]
        layers=layers,
        weights_bytes=weights,
        kv_cache_bytes=kv_cache,
        compute_bytes=compute,
        overhead_bytes=overhead,
        total_bytes=total,
        capacity_bytes=capacity,
        headroom_bytes=headroom,
        fits=None if headroom is None else headroom >= 0,
        terms=terms,
    )


# --- deployment ---------------------------------------------------------------------------
#
# How to start llama-server with exactly the settings the estimate assumed (used by
# sizer/deploy, which builds the compose file and the smoke test from what is returned here).
# The class above owns the memory rules; this section only reads `Estimate.settings`.
# Flags are spelled as in ../shared/flags/flags_llama_server.txt (llama.cpp commit 0c1e570).

LLAMA_SERVER_PORT = 8080  # common/common.h default (ENGINES.md: pass --port explicitly, it will change)
LLAMA_SERVER_HEALTH = "/health"  # tools/server/README.md: 200 once the model is loaded, 503 while loading
# Docker images (tools/server/README.md, docs/docker.md): the CPU build and one per GPU backend.
LLAMA_SERVER_IMAGES = {
    None: "ghcr.io/ggml-org/llama.cpp:server",
    "nvidia": "ghcr.io/ggml-org/llama.cpp:server-cuda",
    "amd": "ghcr.io/ggml-org/llama.cpp:server-rocm",
}
LLAMA_CACHE_DIR = "/cache"  # container path of the download cache (LLAMA_CACHE and HF_HOME point under it)


def tensor_split_arg(split: list[float]) -> str:
    """--tensor-split proportions in lowest terms: 24 GiB + 24 GiB -> "1,1", 24 GiB + 16 GiB -> "3,2"."""
    import math

    values = [int(round(v / MIB)) if max(split) > MIB else int(round(v)) for v in split]
    if min(values) <= 0:
        return ",".join(f"{v:g}" for v in split)
    divisor = math.gcd(*values)
    return ",".join(str(v // divisor) for v in values)


def llama_server_model_args(request) -> tuple[list[str], str, list[str]]:
    """(argv that names the model, what it is, notes): a local GGUF with --model, else --hf-repo REPO:QUANT."""
    from sizer.deploy.text import check_word

    estimate = request.estimate
    if request.model_path is not None:
        return ["--model", str(request.model_path)], str(request.model_path), []
    if estimate.model.source == "gguf":
        raise InvalidInputError("this plan was made from a local GGUF file: pass its path as model_path (--model-path)")
    repo = request.repo
    if repo is None:
        raise InvalidInputError("no Hugging Face repository is known for this model: pass model_path or hf_repo")
    check_word("Hugging Face repository", repo)
    notes = []
    if request.hf_repo is None:
        notes.append(
            f"--hf-repo downloads GGUF files; {repo} is the model's original repository, which may hold none. "
            "If the download fails, pass hf_repo (--hf-repo) naming a GGUF conversion of it, or model_path for a local file"
        )
    return ["--hf-repo", f"{repo}:{estimate.quant}"], f"{repo}:{estimate.quant}", notes


def llama_server_args(request, model_args: list[str], alias: str, *, host: str, port: int) -> list[str]:
    """`llama-server` argv: every setting the estimate sized, explicit (nothing left to --fit or a default)."""
    s = request.settings
    args = ["llama-server", *model_args, "--alias", alias]
    args += ["--ctx-size", str(s.n_ctx or s.ctx * s.parallel)]  # -c is the total over all slots
    args += ["--parallel", str(s.parallel)]
    args += ["--n-gpu-layers", str(s.gpu_layers or 0)]
    if s.tensor_split and len(s.tensor_split) > 1 and s.gpu_layers:
        args += ["--split-mode", "layer", "--tensor-split", tensor_split_arg(s.tensor_split)]
    args += ["--flash-attn", "on" if s.flash_attn else "off"]
    args += ["--cache-type-k", s.kv_type_k, "--cache-type-v", s.kv_type_v]
    if s.n_batch:
        args += ["--batch-size", str(s.n_batch)]
    if s.n_ubatch:
        args += ["--ubatch-size", str(s.n_ubatch)]
    if request.threads:
        args += ["--threads", str(request.threads)]
    # --fit (default on) would shrink anything left unset to what it thinks fits; with every
    # size given, off makes a plan that does not fit fail at start instead of running differently.
    args += ["--fit", "off"]
    args += ["--host", host, "--port", str(port)]
    return args


def settings_comment(request) -> list[str]:
    s = request.settings
    estimate = request.estimate
    n_layer = sum(d.layers for d in estimate.memory.devices)
    layers = f"{s.gpu_layers or 0} of {n_layer + 1} layers on the GPU(s) (output layer included)"
    return [
        f"Settings from sizer's estimate: {s.ctx:,} tokens per sequence x {s.parallel} parallel sequence(s) "
        f"({s.n_ctx or s.ctx * s.parallel:,} KV cells in total), {layers}, KV cache {s.kv_type_k}/{s.kv_type_v}, "
        f"flash attention {'on' if s.flash_attn else 'off'}; placement {estimate.placement or 'not planned'}.",
    ]


def _llamacpp_deployment(self, request):
    """The llama-server command, its container, and how clients reach it."""
    from sizer.deploy.result import Artifact
    from sizer.deploy.spec import ContainerSpec, EnginePlan, Mount
    from sizer.deploy.text import format_command, shell_script, slug

    estimate = request.estimate
    port = request.port or LLAMA_SERVER_PORT
    model_args, source, notes = llama_server_model_args(request)
    alias = slug(estimate.model.id if estimate.model.source == "catalog" else estimate.model.name)
    argv = llama_server_args(request, model_args, alias, host=request.host, port=port)
    script = shell_script(
        [
            f"llama.cpp llama-server: {request.label()}",
            *settings_comment(request),
            "Needs llama-server from llama.cpp at or after commit 0c1e570 (2026-10-01), the one these flags were checked against.",
        ],
        [format_command(argv, prefix="exec ")],
    )
    plan = EnginePlan(
        served_model_name=alias,
        model_source=source,
        port=port,
        health_path=LLAMA_SERVER_HEALTH,
        commands=[Artifact(name="llama-server launch command", kind="command", filename="run.sh", content=script, language="sh")],
        notes=notes,
    )
    if request.nodes > 1:
        plan.notes.append("llama.cpp serves from one host here: the commands start it on the first node only")
    if request.apple:
        plan.no_container_reason = "Docker on macOS runs a Linux VM without access to the Metal GPU; run llama-server natively (run.sh)"
        return plan
    vendor = request.gpu_vendor if request.settings.gpu_layers else None
    if vendor not in LLAMA_SERVER_IMAGES:
        plan.no_container_reason = f"no llama.cpp image is known for {vendor} GPUs"
        return plan
    mounts, env, secrets = [], {}, []
    if request.model_path is not None:
        mounts.append(Mount(target=str(request.model_path), source=str(request.model_path), read_only=True, kind="bind"))
    else:
        mounts.append(Mount(target=LLAMA_CACHE_DIR))
        env = {"LLAMA_CACHE": f"{LLAMA_CACHE_DIR}/llama.cpp", "HF_HOME": f"{LLAMA_CACHE_DIR}/huggingface"}
        secrets = ["HF_TOKEN"]
    gpus = request.accelerators if vendor else []
    plan.containers.append(
        ContainerSpec(
            name="llama-server",
            image=LLAMA_SERVER_IMAGES[vendor],
            args=llama_server_args(request, model_args, alias, host="0.0.0.0", port=LLAMA_SERVER_PORT)[1:],
            port=LLAMA_SERVER_PORT,
            health_path=LLAMA_SERVER_HEALTH,
            health_test=["curl", "-fsS", f"http://localhost:{LLAMA_SERVER_PORT}{LLAMA_SERVER_HEALTH}"],
            env=env,
            secrets=secrets,
            gpu_vendor=vendor,
            gpus=len(gpus),
            gpu_product=gpus[0].name if gpus else None,
            mounts=mounts,
            start_period_s=1800,
        )
    )
    return plan


# LlamaCpp is defined above the memory helpers; its deployment method lives in this section.
LlamaCpp.deployment = _llamacpp_deployment  # type: ignore[attr-defined]
