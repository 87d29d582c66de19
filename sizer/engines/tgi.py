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
from sizer.engines.base import breakdown, Engine, EngineResult, Request, check_positive, gpu_context_bytes, gpus
from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate.result import DeviceMemory, Settings, Unknown
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


class Tgi(_paged.CheckpointServer, Engine, name="tgi"):
    """Text Generation Inference's launcher (Docker image)."""

    label = "TGI"
    FORMATS = FORMATS
    NATIVE_LADDERS = {"mxfp4": ()}  # TGI has no MXFP4 kernels
    FIT_BONUS = (0.0, 0.08)
    unsupported_format = "TGI does not load '{quant}' checkpoints"

    def recommendation_reasons(self, model: ModelEntry, placement: Optional[str], users: int, many_users: bool) -> list[str]:
        return super().recommendation_reasons(model, placement, users, many_users) + [
            "TGI is in maintenance mode upstream; prefer vLLM for new deployments"
        ]
    weights_format = "safetensors"
    kv_cache_types = KV_TYPES
    aliases = ("text-generation-inference",)

    def default_quant(self, model: ModelEntry) -> str:
        return model.native_quant if model.native_quant in FORMATS else "bf16"

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
            available = len(machine.hosts[0].accelerators) if machine and machine.hosts[0].accelerators else 1
            shards = _paged.largest_legal_tensor_parallel(model, available, "TGI")
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
        memory = breakdown(devices)
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



# --- deployment ---------------------------------------------------------------------------
#
# TGI runs from its Docker image (docs/source/quicktour.md): `docker run --gpus … --shm-size 1g
# -p PORT:80 -v VOLUME:/data IMAGE --model-id …`; the image's entrypoint is
# text-generation-launcher, whose flags are those of ../shared/flags/flags_tgi.txt.

TGI_VERSION = "3.3.5"
TGI_IMAGE = f"ghcr.io/huggingface/text-generation-inference:{TGI_VERSION}"  # quicktour.md
TGI_PORT = 80  # the image sets PORT=80 (Dockerfile), the launcher reads it
TGI_HEALTH = "/health"
TGI_SHM = "1g"  # quicktour.md: --shm-size 1g (NCCL between shards)
TGI_DATA = "/data"  # the image's HF_HOME / HUGGINGFACE_HUB_CACHE
TGI_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}  # --dtype (not with --quantize)
# --quantize methods TGI applies to 16-bit weights while loading them (launcher.md); awq/gptq
# need a checkpoint stored in that format.
TGI_ONLINE_QUANTS = frozenset({"fp8", "int8", "eetq", "nf4", "fp4"})
TGI_SERVED_NAME = "tgi"  # the OpenAI route takes any model name; TGI's docs use "tgi"


def _tgi_launcher_args(self, request, model: str) -> list[str]:
    s = request.settings
    quant = request.estimate.quant
    args = ["--model-id", model, "--num-shard", str(s.tensor_parallel)]
    method = self.quantization_flag(quant)
    args += ["--quantize", method] if method else ["--dtype", TGI_DTYPES[quant]]
    if s.kv_type_k != "auto":
        args += ["--kv-cache-dtype", s.kv_type_k]
    args += ["--max-input-tokens", str(s.ctx - 1), "--max-total-tokens", str(s.ctx)]
    if s.max_num_batched_tokens:
        args += ["--max-batch-prefill-tokens", str(s.max_num_batched_tokens)]
    args += ["--cuda-memory-fraction", f"{s.gpu_memory_utilization or DEFAULT_CUDA_MEMORY_FRACTION:g}"]
    if s.max_num_seqs:
        args += ["--max-concurrent-requests", str(s.max_num_seqs)]
    args += ["--hostname", "0.0.0.0", "--port", str(TGI_PORT)]
    return args


def _docker_gpus(count: int, device_ids: Optional[list[str]]) -> str:
    """docker run --gpus: a count, or a device list (quoted, as docker reads it as CSV)."""
    return f'"device={",".join(device_ids)}"' if device_ids else str(count)


def _tgi_deployment(self, request):
    """`docker run` of the TGI image, the same container for compose, and Kubernetes manifests."""
    from sizer.deploy.result import Artifact
    from sizer.deploy.spec import ContainerSpec, EnginePlan, Mount
    from sizer.deploy.text import format_command, shell_script
    from sizer.engines.vllm import checkpoint_source

    s = request.settings
    port = request.port or 8080
    model, _served, notes = checkpoint_source(request, "TGI", TGI_ONLINE_QUANTS, TGI_DTYPES)
    launcher = _tgi_launcher_args(self, request, model)
    shards = s.tensor_parallel
    accelerators = request.accelerators
    device_ids = [str(a.index) for a in accelerators[:shards]] if accelerators and shards < len(accelerators) else None
    publish = f"{port}:{TGI_PORT}" if request.host in ("0.0.0.0", "") else (
        f"[{request.host}]:{port}:{TGI_PORT}" if ":" in request.host else f"{request.host}:{port}:{TGI_PORT}")
    run = ["docker", "run", "--rm", "--name", "tgi", "--gpus", _docker_gpus(shards, device_ids), "--shm-size", TGI_SHM,
           "-p", publish, "-v", f"tgi-data:{TGI_DATA}", "-e", "HF_TOKEN"]
    mounts = [Mount(target=TGI_DATA)]
    if request.model_path is not None:
        path = str(request.model_path)
        if "," in path or '"' in path:
            raise InvalidInputError(f"docker --mount cannot bind a path with ',' or '\"': {path!r}")
        run += ["--mount", f"type=bind,source={path},target={path},readonly"]
        mounts.append(Mount(target=path, source=path, read_only=True, kind="bind"))
    image_at = len(run)
    run += [TGI_IMAGE, *launcher]
    script = shell_script(
        [
            f"TGI {TGI_VERSION}: {request.label()}",
            f"Settings from sizer's estimate: --max-total-tokens {s.ctx:,}, {shards} shard(s), "
            f"--cuda-memory-fraction {s.gpu_memory_utilization or DEFAULT_CUDA_MEMORY_FRACTION:g}, KV cache {s.kv_type_k}.",
            "Needs Docker with the NVIDIA Container Toolkit; HF_TOKEN is passed through for gated models.",
        ],
        [format_command(run, prefix="exec ", breaks=[image_at])],
    )
    plan = EnginePlan(
        served_model_name=TGI_SERVED_NAME,
        model_source=model,
        port=port,
        health_path=TGI_HEALTH,
        commands=[Artifact(name="TGI docker run command", kind="command", filename="run.sh", content=script, language="sh")],
        kubernetes=True,
        notes=notes,
    )
    vendor = request.gpu_vendor or ("nvidia" if request.machine is None else None)
    if vendor != "nvidia":
        plan.no_container_reason = f"sizer names TGI's CUDA image only; this plan's GPUs are {vendor or 'not NVIDIA'}"
        return plan
    plan.containers.append(
        ContainerSpec(
            name="tgi",
            image=TGI_IMAGE,
            args=launcher,
            port=TGI_PORT,
            health_path=TGI_HEALTH,
            health_test=["curl", "-fsS", f"http://localhost:{TGI_PORT}{TGI_HEALTH}"],
            gpu_vendor="nvidia",
            gpus=shards,
            gpu_device_ids=device_ids,
            gpu_product=accelerators[0].name if accelerators else None,
            shm_size=TGI_SHM,
            mounts=mounts,
            secrets=["HF_TOKEN"],
            start_period_s=3600,
        )
    )
    return plan


Tgi.deployment = _tgi_deployment  # type: ignore[attr-defined]
