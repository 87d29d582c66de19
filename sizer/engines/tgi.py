"""Hugging Face TGI (`text-generation-launcher`): sharded safetensors, a prefill warmup, and a
KV block pool sized from the memory the warmup leaves free.

From TGI's `flash_causal_lm.py` warmup: after a prefill of `--max-batch-prefill-tokens` tokens,
`num_blocks = (free × cuda_memory_fraction) × TGI_WIGGLE_ROOM // block bytes` where free is what
`torch.cuda.mem_get_info` reports (so the CUDA context, the weights and the warmup's peak are
already gone).  Defaults from ../shared/ENGINES.md (launcher.md at HEAD db931fc).
"""

from __future__ import annotations

from typing import Optional

from sizer.engines import _paged
from sizer.engines.base import Engine, EngineResult, Request, check_positive, gpu_context_bytes, gpus
from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate.result import DeviceMemory, MemoryBreakdown, Settings, Unknown
from sizer.estimate.weights import Weights
from sizer.types import Machine, ModelEntry

DEFAULT_CUDA_MEMORY_FRACTION = 1.0  # launcher --cuda-memory-fraction
WIGGLE_ROOM = 0.95  # flash_causal_lm.py warmup: "Leave 5% for some wiggle room"
PREFILL_MARGIN = 50  # --max-batch-prefill-tokens defaults to max_input_tokens + 50
BLOCK_SIZE = 16
DEFAULT_CTX = 8192
MAX_CONCURRENT_REQUESTS = 128  # --max-concurrent-requests default
KV_TYPES = ("auto", "fp8_e4m3fn", "fp8_e5m2")

# --quantize values (launcher) for the checkpoint formats sizer sizes, with the lowest compute
# capability TGI's kernels need (Marlin/AWQ/GPTQ-Marlin 8.0; fp8 Marlin fallback below 8.9).
FORMATS = {
    "bf16": (None, 8.0),
    "fp16": (None, 7.0),
    "fp8": ("fp8", 8.0),
    "awq": ("awq", 7.5),
    "gptq": ("gptq", 7.5),
    "gptq-int8": ("gptq", 7.5),
    "int8": ("bitsandbytes", 7.0),
    "eetq": ("eetq", 7.0),
    "nf4": ("bitsandbytes-nf4", 7.0),
    "fp4": ("bitsandbytes-fp4", 7.0),
}


class Tgi(Engine, name="tgi"):
    """Text Generation Inference's launcher (Docker image)."""

    label = "TGI"
    weights_format = "safetensors"
    kv_cache_types = KV_TYPES
    aliases = ("text-generation-inference",)

    def default_quant(self, model: ModelEntry) -> str:
        return model.native_quant if model.native_quant in FORMATS else "bf16"

    def quant_names(self) -> tuple[str, ...]:
        return tuple(FORMATS)

    def quantization_flag(self, quant: str) -> Optional[str]:
        return FORMATS[quant][0]

    def cannot_run(self, model: ModelEntry, quant: str, machine: Optional[Machine]) -> Optional[str]:
        if quant not in FORMATS:
            return f"TGI does not load '{quant}' checkpoints"
        if machine is not None:
            devices = [a for _, a in gpus(machine) if a.vendor in ("nvidia", "amd")]
            if not devices:
                return "TGI needs a CUDA or ROCm GPU"
            need = FORMATS[quant][1]
            for accelerator in devices:
                if accelerator.compute_capability and float(accelerator.compute_capability) < need:
                    return f"{quant} in TGI needs compute capability >= {need}, {accelerator.name} has {accelerator.compute_capability}"
        return None

    def resolve(self, model: ModelEntry, request: Request, machine: Optional[Machine]) -> tuple[Settings, list[str]]:
        check_positive("context length", request.ctx, maximum=1 << 24)
        check_positive("parallel sequences", request.parallel, maximum=65536)
        ctx = request.ctx or min(DEFAULT_CTX, model.max_context)
        if ctx > model.max_context:
            raise UnsupportedError(f"TGI caps --max-total-tokens at the model's {model.max_context:,} positions")
        fraction = request.gpu_memory_utilization or DEFAULT_CUDA_MEMORY_FRACTION
        if not 0 < fraction <= 1:
            raise InvalidInputError(f"--cuda-memory-fraction must be in (0, 1], got {fraction}")
        kv_type = (request.kv_type or "auto").lower()
        if kv_type == "fp8":
            kv_type = "fp8_e4m3fn"
        if kv_type not in KV_TYPES:
            raise InvalidInputError(f"TGI has no --kv-cache-dtype '{kv_type}'; choose from {', '.join(KV_TYPES)}")
        shards = request.tensor_parallel
        if shards is None:
            shards = len(machine.hosts[0].accelerators) if machine and machine.hosts[0].accelerators else 1
            while shards > 1:
                try:
                    _paged.check_tensor_parallel(model, shards, "TGI")
                    break
                except UnsupportedError:
                    shards -= 1
        _paged.check_tensor_parallel(model, shards, "TGI")
        if machine is not None:
            if len(machine.hosts) > 1:
                raise UnsupportedError("TGI shards within one node only (--num-shard); use vLLM for several nodes")
            if shards > len(machine.hosts[0].accelerators):
                raise UnsupportedError(f"TGI: --num-shard {shards} needs {shards} GPUs, the host has {len(machine.hosts[0].accelerators)}")
        settings = Settings(
            ctx=ctx,
            parallel=request.parallel or 1,
            kv_type_k=kv_type,
            kv_type_v=kv_type,
            tensor_parallel=shards,
            gpu_memory_utilization=fraction,
            max_num_batched_tokens=request.max_num_batched_tokens or ctx - 1 + PREFILL_MARGIN,
            max_num_seqs=MAX_CONCURRENT_REQUESTS,
            block_size=BLOCK_SIZE,
        )
        return settings, []

    def estimate(self, model: ModelEntry, weights: Weights, request: Request, machine: Optional[Machine]) -> EngineResult:
        settings, warnings = self.resolve(model, request, machine)
        unknowns: list[Unknown] = []
        shards = settings.tensor_parallel
        cache = "fp8" if settings.kv_type_k.startswith("fp8") else "f16"
        layers = range(model.num_layers)
        weight_bytes = _paged.weights_per_rank(weights, layers, shards, first=True, last=True)
        warmup = _paged.activation_peak_bytes(model, settings.max_num_batched_tokens or settings.ctx, 1, shards)
        token = _paged.kv_bytes_per_token_per_rank(model, shards, layers, cache)
        sequence = _paged.sequence_kv_bytes_per_rank(model, shards, layers, cache, settings.ctx, BLOCK_SIZE)
        accelerators = [a for _, a in gpus(machine)][:shards]
        devices: list[DeviceMemory] = []
        pools: list[_paged.PagedPool] = []
        for rank in range(shards):
            accelerator = accelerators[rank] if rank < len(accelerators) else None
            context = gpu_context_bytes(accelerator) if accelerator else 0
            terms = {"weights_bytes": weight_bytes, "warmup_peak_bytes": warmup, "cuda_context_bytes": context}
            if accelerator is None:
                kv_bytes = sequence * settings.parallel
                total = weight_bytes + warmup + kv_bytes + context
                devices.append(DeviceMemory(device=f"rank{rank}", kind="gpu", layers=model.num_layers, weights_bytes=weight_bytes,
                                            kv_cache_bytes=kv_bytes, compute_bytes=warmup, overhead_bytes=context, total_bytes=total,
                                            terms={**terms, "kv_needed_bytes": kv_bytes}))
                continue
            total_memory = accelerator.memory_total_bytes or 0
            free = (accelerator.memory_free_bytes if accelerator.memory_free_bytes is not None else total_memory)
            free -= weight_bytes + warmup + context
            usable = max(0.0, free - (1 - (settings.gpu_memory_utilization or 1.0)) * total_memory)
            pool = int(usable * WIGGLE_ROOM) if free > 0 else free
            pools.append(_paged.PagedPool(pool_bytes=pool, block_tokens=BLOCK_SIZE, token_bytes=token, sequence_bytes=sequence))
            claimed = weight_bytes + warmup + context + max(pool, 0)
            devices.append(DeviceMemory(
                device=f"cuda{accelerator.index}", name=accelerator.name, kind="gpu", layers=model.num_layers,
                weights_bytes=weight_bytes, kv_cache_bytes=max(pool, 0), compute_bytes=warmup, overhead_bytes=context,
                total_bytes=claimed, capacity_bytes=total_memory, headroom_bytes=total_memory - claimed if pool > 0 else pool,
                fits=pool > 0, terms=terms,
            ))
        memory = MemoryBreakdown(
            weights_bytes=sum(d.weights_bytes for d in devices),
            kv_cache_bytes=sum(d.kv_cache_bytes for d in devices),
            compute_bytes=sum(d.compute_bytes for d in devices),
            overhead_bytes=sum(d.overhead_bytes for d in devices),
            total_bytes=sum(d.total_bytes for d in devices),
            devices=devices,
        )
        fits = placement = None
        if machine is not None:
            memory.kv_capacity_tokens = min(p.capacity_tokens for p in pools) if pools else 0
            concurrency = min((p.max_concurrency(settings.ctx) or 0) for p in pools) if pools else 0.0
            memory.max_concurrency = round(concurrency, 2)
            fits = all(d.fits for d in devices) and concurrency >= 1
            if 0 < concurrency < 1:
                warnings.append(f"the KV blocks hold {memory.kv_capacity_tokens:,} tokens, less than --max-total-tokens {settings.ctx:,}: TGI refuses to start")
            placement = "multi-gpu" if shards > 1 else "gpu"
        else:
            unknowns.append(Unknown(field="memory.kv_capacity_tokens", reason="no hardware given: TGI's KV blocks are whatever the GPU leaves after warmup"))
        return EngineResult(settings=settings, memory=memory, placement=placement, fits=fits, warnings=warnings, unknowns=unknowns)



