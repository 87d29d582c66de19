"""vLLM (`vllm serve`): a memory budget per GPU, weights sharded by tensor/pipeline parallelism,
an activation peak from a profiling run, and a paged KV cache made of what is left.

The budget rule is vLLM's own (gpu_worker: requested memory = total × gpu_memory_utilization;
KV = requested − weights − activation peak − non-torch memory), checked against its logs in
../shared/ground_truth/runtime_logs.json (PR #10511: 71.29 − 14.96 − 1.79 − 1.26 = 53.29 GiB).
Defaults are those of vLLM 0.33.0 (../shared/ENGINES.md).
"""

from __future__ import annotations

from typing import Optional

from sizer.engines import _paged
from sizer.engines.base import breakdown, GIB, Engine, EngineResult, Request, check_positive, gpus
from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate.result import DeviceMemory, Settings, Unknown
from sizer.estimate.weights import Weights
from sizer.types import Accelerator, Machine, ModelEntry

DEFAULT_GPU_MEMORY_UTILIZATION = 0.92  # vllm/config/cache.py, 0.33.0 (0.9 before)
DEFAULT_BLOCK_SIZE = 16  # CacheConfig.DEFAULT_BLOCK_SIZE
DEFAULT_CTX = 8192  # sizer's default; `vllm serve` alone takes the model's max_position_embeddings
KV_TYPES = ("auto", "bf16", "fp16", "fp8", "fp8_e4m3", "fp8_e5m2")

# Formats vLLM 0.33 loads, with its --quantization name and the lowest compute capability whose
# kernels run them (each method's get_min_capability(): Marlin-based AWQ/GPTQ/MXFP4 need 8.0;
# FP8 W8A8 needs 8.9 — vLLM falls back to weight-only Marlin FP8 on 8.0-8.6). No GGUF and no
# bitsandbytes in 0.33.0 (ENGINES.md).
FORMATS = {
    "bf16": (None, 8.0),
    "fp16": (None, 7.0),
    "fp32": (None, 7.0),
    "fp8": ("fp8", 8.0),
    "awq": ("awq_marlin", 8.0),
    "gptq": ("gptq_marlin", 8.0),
    "gptq-int8": ("gptq_marlin", 8.0),
    "int8": ("compressed-tensors", 7.5),
    "mxfp4": ("mxfp4", 8.0),
}

# EngineArgs.get_batch_defaults (0.33.0): by GPU memory; A100 and GB10 keep the smaller defaults.
def batch_defaults(accelerator: Optional[Accelerator]) -> tuple[int, int]:
    """(max_num_seqs, max_num_batched_tokens) vLLM picks for the API server on this GPU."""
    if accelerator is None or accelerator.memory_total_bytes is None:
        return 256, 2048
    gib = accelerator.memory_total_bytes / GIB
    small_class = "A100" in accelerator.name.upper() or "GB10" in accelerator.name.upper()
    if gib >= 160:
        return 1024, 16384
    if gib >= 70 and not small_class:
        return 1024, 8192
    return 256, 2048


# Memory outside PyTorch's allocator (CUDA context, cuBLAS workspaces, NCCL) per rank, as vLLM
# logs it (runtime_logs constants const-vllm-non-torch): 1.79 GiB on H100 at TP 1 and 3.58 GiB at
# TP 2 (PR #10511), 0.35 GiB on an RTX 3090 at TP 1, 0.34-0.43 GiB on A100-40GB at TP 4.
# Keyed by compute-capability major; the TP factor is what the H100 pair shows.
NON_TORCH_BYTES = {9: int(1.79 * GIB), 10: int(1.79 * GIB), 8: int(0.35 * GIB)}
DEFAULT_NON_TORCH_BYTES = int(0.35 * GIB)
NON_TORCH_TP_FACTOR = {9: 2.0, 10: 2.0}

# CUDA graph pool (FULL_AND_PIECEWISE capture), inside the budget in current vLLM: 0.60 GiB for
# Llama-3-8B at max_num_seqs 256, 0.44 GiB at 128 (runtime_logs vllm-llama3-8b-tp4-l4-djl).
CUDA_GRAPH_BYTES_PER_SEQ = int(0.60 * GIB) / 256
def non_torch_bytes(accelerator: Optional[Accelerator], tp: int) -> int:
    major = int(accelerator.compute_capability.split(".")[0]) if accelerator and accelerator.compute_capability else None
    base = NON_TORCH_BYTES.get(major, DEFAULT_NON_TORCH_BYTES) if major else DEFAULT_NON_TORCH_BYTES
    return int(base * (NON_TORCH_TP_FACTOR.get(major, 1.0) if tp > 1 and major else 1.0))


class Vllm(_paged.CheckpointServer, Engine, name="vllm"):
    """vLLM's OpenAI-compatible server."""

    label = "vLLM"
    FORMATS = FORMATS
    NATIVE_LADDERS = {"mxfp4": ("mxfp4",)}
    FIT_BONUS = (0.0, 0.15)
    unsupported_format = "vLLM 0.33 does not load '{quant}' checkpoints (no GGUF, no bitsandbytes)"
    weights_format = "safetensors"
    kv_cache_types = KV_TYPES
    memory_fraction_default = DEFAULT_GPU_MEMORY_UTILIZATION

    def default_quant(self, model: ModelEntry) -> str:
        return model.native_quant or "bf16"

    def resolve(self, model: ModelEntry, request: Request, machine: Optional[Machine]) -> tuple[Settings, list[str]]:
        warnings: list[str] = []
        check_positive("context length", request.ctx, maximum=1 << 24)
        check_positive("parallel sequences", request.parallel, maximum=65536)
        check_positive("tensor-parallel size", request.tensor_parallel, maximum=1024)
        check_positive("pipeline-parallel size", request.pipeline_parallel, maximum=1024)
        ctx = request.ctx or min(DEFAULT_CTX, model.max_context)
        if ctx > model.max_context:
            raise UnsupportedError(
                f"vLLM refuses --max-model-len {ctx:,} above the model's {model.max_context:,} (unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1)"
            )
        utilization = request.gpu_memory_utilization or self.memory_fraction_default
        if not 0 < utilization <= 1:
            raise InvalidInputError(f"--gpu-memory-utilization must be in (0, 1], got {utilization}")
        kv_type = (request.kv_type or "auto").lower()
        if kv_type not in KV_TYPES:
            raise InvalidInputError(f"vLLM has no --kv-cache-dtype '{kv_type}'; choose from {', '.join(KV_TYPES)}")
        tp, pp = self._parallelism(model, request, machine)
        first = gpus(machine)[0][1] if gpus(machine) else None
        default_seqs, default_tokens = batch_defaults(first)
        max_num_seqs = request.parallel if request.parallel and request.parallel > default_seqs else default_seqs
        batched = request.max_num_batched_tokens or min(default_tokens, max_num_seqs * ctx)
        settings = Settings(
            ctx=ctx,
            parallel=request.parallel or 1,
            kv_type_k=kv_type,
            kv_type_v=kv_type,
            tensor_parallel=tp,
            pipeline_parallel=pp,
            gpu_memory_utilization=utilization,
            max_num_batched_tokens=batched,
            max_num_seqs=max_num_seqs,
            block_size=DEFAULT_BLOCK_SIZE,
            enforce_eager=bool(request.enforce_eager),
        )
        return settings, warnings

    def _parallelism(self, model: ModelEntry, request: Request, machine: Optional[Machine]) -> tuple[int, int]:
        """TP within a node, PP across nodes, unless given; the largest legal TP when unset."""
        hosts = machine.hosts if machine else []
        per_host = min((len(h.accelerators) for h in hosts), default=1) or 1
        tp = request.tensor_parallel
        pp = request.pipeline_parallel or (len(hosts) if len(hosts) > 1 else 1)
        if tp is None:
            tp = _paged.largest_legal_tensor_parallel(model, per_host, "vLLM") if machine is not None else 1
        _paged.check_tensor_parallel(model, tp, "vLLM")
        if pp > model.num_layers:
            raise UnsupportedError(f"vLLM: pipeline-parallel size {pp} exceeds the model's {model.num_layers} layers")
        if machine is not None:
            available = sum(len(h.accelerators) for h in hosts)
            if tp * pp > available:
                raise UnsupportedError(f"vLLM: tensor {tp} x pipeline {pp} needs {tp * pp} GPUs, the machine has {available}")
            if tp > per_host:
                raise UnsupportedError(f"vLLM: tensor-parallel size {tp} exceeds the {per_host} GPUs of one node; use pipeline parallelism across nodes")
        return tp, pp

    def cache_dtype(self, settings: Settings, model: ModelEntry) -> str:
        if settings.kv_type_k == "auto":
            return "f16" if (model.torch_dtype or "bfloat16") in ("float16", "bfloat16") else "f32"
        return "fp8" if settings.kv_type_k.startswith("fp8") else "f16"

    def estimate(self, model: ModelEntry, weights: Weights, request: Request, machine: Optional[Machine]) -> EngineResult:
        settings, warnings = self.resolve(model, request, machine)
        unknowns: list[Unknown] = []
        tp, pp = settings.tensor_parallel, settings.pipeline_parallel
        cache = self.cache_dtype(settings, model)
        stages = _paged.stage_layers(model.num_layers, pp)
        devices: list[DeviceMemory] = []
        capacities: list[int] = []
        concurrencies: list[float] = []
        gpu_list = [a for _, a in gpus(machine)]
        hosts = machine.hosts if machine else []
        per_host = len(hosts[0].accelerators) if hosts else 0
        for stage, layers in enumerate(stages):
            for rank in range(tp):
                index = stage * tp + rank
                accelerator = gpu_list[index] if index < len(gpu_list) else None
                device = self._rank_memory(model, weights, settings, cache, layers, stage, len(stages), accelerator, unknowns)
                if machine is not None and len(hosts) > 1 and per_host:
                    device.device = f"node-{index // per_host}/{device.device}"
                devices.append(device)
                pool = self._pool(model, settings, cache, layers, device.kv_cache_bytes)
                if accelerator is not None:
                    capacities.append(pool.capacity_tokens)
                    concurrency = pool.max_concurrency(settings.ctx)
                    if concurrency is not None:
                        concurrencies.append(concurrency)
        memory = breakdown(devices)
        fits: Optional[bool] = None
        placement = None
        if machine is not None:
            memory.kv_capacity_tokens = min(capacities) if capacities else 0
            memory.max_concurrency = round(min(concurrencies), 2) if concurrencies else 0.0
            fits = all(d.fits for d in devices) and (memory.max_concurrency or 0) >= 1
            if memory.max_concurrency is not None and 0 < memory.max_concurrency < 1:
                warnings.append(
                    f"the KV pool holds {memory.kv_capacity_tokens:,} tokens, less than one {settings.ctx:,}-token sequence: vLLM refuses to start"
                )
            elif memory.max_concurrency and memory.max_concurrency < settings.parallel:
                warnings.append(
                    f"the KV pool holds {memory.max_concurrency:.2f} sequences of {settings.ctx:,} tokens, fewer than the "
                    f"{settings.parallel} requested: vLLM queues the rest (or shorten --max-model-len)"
                )
            placement = "multi-node" if len(hosts) > 1 else ("multi-gpu" if tp * pp > 1 else "gpu")
        else:
            unknowns.append(Unknown(field="memory.kv_capacity_tokens", reason="no hardware given: vLLM's KV pool is whatever the GPU budget leaves"))
        return EngineResult(settings=settings, memory=memory, placement=placement, fits=fits, warnings=warnings, unknowns=unknowns)

    def _pool(self, model: ModelEntry, settings: Settings, cache: str, layers: range, pool_bytes: int) -> _paged.PagedPool:
        block = settings.block_size or DEFAULT_BLOCK_SIZE
        token = _paged.kv_bytes_per_token_per_rank(model, settings.tensor_parallel, layers, cache)
        sequence = _paged.sequence_kv_bytes_per_rank(model, settings.tensor_parallel, layers, cache, settings.ctx, block)
        return _paged.PagedPool(pool_bytes=pool_bytes, block_tokens=block, token_bytes=token, sequence_bytes=sequence)

    def _rank_memory(
        self,
        model: ModelEntry,
        weights: Weights,
        settings: Settings,
        cache: str,
        layers: range,
        stage: int,
        stages: int,
        accelerator: Optional[Accelerator],
        unknowns: list[Unknown],
    ) -> DeviceMemory:
        tp = settings.tensor_parallel
        weight_bytes = _paged.weights_per_rank(weights, layers, tp, first=stage == 0, last=stage == stages - 1)
        activation = _paged.activation_peak_bytes(model, settings.max_num_batched_tokens or 2048, settings.max_num_seqs or 256, tp)
        overhead = non_torch_bytes(accelerator, tp)
        graphs = 0 if settings.enforce_eager else int(CUDA_GRAPH_BYTES_PER_SEQ * min(settings.max_num_seqs or 256, 512))
        terms = {"weights_bytes": weight_bytes, "activation_peak_bytes": activation, "non_torch_bytes": overhead, "cuda_graphs_bytes": graphs}
        if accelerator is None:
            # Device-neutral: the KV the requested sequences need, not a pool.
            need = _paged.sequence_kv_bytes_per_rank(model, tp, layers, cache, settings.ctx, settings.block_size or DEFAULT_BLOCK_SIZE)
            kv_bytes = need * settings.parallel
            total = weight_bytes + kv_bytes + activation + overhead + graphs
            return DeviceMemory(
                device=f"rank{stage * tp}",
                kind="gpu",
                layers=len(layers),
                weights_bytes=weight_bytes,
                kv_cache_bytes=kv_bytes,
                compute_bytes=activation + graphs,
                overhead_bytes=overhead,
                total_bytes=total,
                terms={**terms, "kv_needed_bytes": kv_bytes},
            )
        prefix = "rocm" if accelerator.vendor == "amd" else "cuda"
        name = f"{prefix}{accelerator.index}"
        total_memory = accelerator.memory_total_bytes or 0
        budget = int(total_memory * (settings.gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION))
        pool = budget - weight_bytes - activation - overhead - graphs
        terms["budget_bytes"] = budget
        capacity = accelerator.memory_free_bytes if accelerator.memory_free_bytes is not None else total_memory
        if capacity < budget:
            unknowns.append(Unknown(field=f"memory.devices.{name}", reason=f"only {capacity / GIB:.1f} GiB free of the {budget / GIB:.1f} GiB vLLM will request"))
        claimed = weight_bytes + max(pool, 0) + activation + graphs + overhead
        return DeviceMemory(
            device=name,
            name=accelerator.name,
            kind="gpu",
            layers=len(layers),
            weights_bytes=weight_bytes,
            kv_cache_bytes=max(pool, 0),
            compute_bytes=activation + graphs,
            overhead_bytes=overhead,
            total_bytes=claimed,
            capacity_bytes=capacity,
            headroom_bytes=capacity - claimed if pool > 0 else pool,
            fits=pool > 0 and capacity >= budget,
            terms=terms,
        )


# --- deployment ---------------------------------------------------------------------------
#
# `vllm serve` with every setting the estimate sized, its container, and for several nodes
# the Ray launch vLLM documents (examples/online_serving/multi-node-serving.sh and
# docs/serving/parallelism_scaling.md: `ray start --head` on one node, `ray start --address`
# on the others, then `vllm serve` on the head with TP = GPUs per node and PP = nodes).
# Flags are spelled as in ../shared/flags/flags_vllm_serve.txt (vLLM 0.33.0).

VLLM_VERSION = "0.33.0"
VLLM_IMAGE = f"vllm/vllm-openai:v{VLLM_VERSION}"  # the image of the version whose flags sizer checked
VLLM_PORT = 8000  # --port default
VLLM_HEALTH = "/health"
VLLM_SHM = "2g"  # docs/deployment/k8s.md mounts a 2Gi memory emptyDir at /dev/shm
VLLM_HF_CACHE = "/root/.cache/huggingface"  # docs/deployment/docker.md mounts the HF cache here
RAY_PORT = 6379  # `ray start --head --port` in multi-node-serving.sh
# --dtype for unquantized checkpoints; --kv-cache-dtype spellings (vllm/config/cache.py CacheDType).
VLLM_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
VLLM_KV_CACHE_DTYPES = {"auto": "auto", "bf16": "bfloat16", "fp16": "float16", "fp8": "fp8", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
# Formats vLLM makes from 16-bit weights at load time (--quantization fp8: dynamic FP8); the
# others need a checkpoint stored in that format.
VLLM_ONLINE_QUANTS = frozenset({"fp8"})


def vllm_gpu_count(settings: Settings) -> int:
    return settings.tensor_parallel * settings.pipeline_parallel


def checkpoint_source(request, engine_name: str, online: frozenset[str], dtypes: dict[str, str]) -> tuple[str, str, list[str]]:
    """(model argument, served name, notes): a local checkpoint, the caller's repo, or the model's own."""
    from sizer.deploy.text import check_word, slug

    estimate = request.estimate
    notes: list[str] = []
    if request.model_path is not None:
        return str(request.model_path), slug(request.model_path.name), notes
    repo = request.repo
    if repo is None:
        raise InvalidInputError("no Hugging Face repository is known for this model: pass model_path or hf_repo")
    check_word("Hugging Face repository", repo)
    native = request.entry.native_quant if request.entry else None
    if request.hf_repo is None and estimate.quant not in dtypes and estimate.quant not in online and estimate.quant != native:
        notes.append(
            f"{repo} holds the original weights: {engine_name} loads {estimate.quant} from a checkpoint stored in that "
            "format, so pass hf_repo (--hf-repo) naming one, or model_path"
        )
    if estimate.quant in online and estimate.quant != native:
        notes.append(f"{engine_name} quantizes the 16-bit weights of {repo} to {estimate.quant} while loading them")
    return repo, repo, notes


def _vllm_serve_args(self, request, model: str, served: str, *, host: str, port: int, ray: bool) -> list[str]:
    s = request.settings
    quant = request.estimate.quant
    args = ["vllm", "serve", model, "--served-model-name", served]
    args += ["--max-model-len", str(s.ctx)]
    args += ["--gpu-memory-utilization", f"{s.gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION:g}"]
    args += ["--tensor-parallel-size", str(s.tensor_parallel), "--pipeline-parallel-size", str(s.pipeline_parallel)]
    method = self.quantization_flag(quant)
    args += ["--quantization", method] if method else ["--dtype", VLLM_DTYPES[quant]]
    args += ["--kv-cache-dtype", VLLM_KV_CACHE_DTYPES[s.kv_type_k]]
    if s.max_num_seqs:
        args += ["--max-num-seqs", str(s.max_num_seqs)]
    if s.max_num_batched_tokens:
        args += ["--max-num-batched-tokens", str(s.max_num_batched_tokens)]
    if s.block_size and s.block_size != DEFAULT_BLOCK_SIZE:
        args += ["--block-size", str(s.block_size)]
    if s.enforce_eager:
        args += ["--enforce-eager"]
    if ray:
        args += ["--distributed-executor-backend", "ray"]
    args += ["--host", host, "--port", str(port)]
    return args


def ray_wait_for_gpus(gpus: int) -> str:
    """A shell loop that waits until the Ray cluster counts `gpus` GPUs (the workers have joined)."""
    import shlex

    check = (
        'import ray, sys; ray.init(address="auto", logging_level="ERROR"); '
        f'sys.exit(0 if ray.cluster_resources().get("GPU", 0) >= {gpus} else 1)'
    )
    return f"until python3 -c {shlex.quote(check)} >/dev/null 2>&1; do sleep 5; done"


def _vllm_deployment(self, request):
    """`vllm serve` (with a Ray head/worker launch across nodes), its containers and manifests."""
    import shlex

    from sizer.deploy.result import Artifact
    from sizer.deploy.spec import ContainerSpec, EnginePlan, Mount
    from sizer.deploy.text import format_command, shell_script

    s = request.settings
    port = request.port or VLLM_PORT
    model, served, notes = checkpoint_source(request, "vLLM", VLLM_ONLINE_QUANTS, VLLM_DTYPES)
    nodes = request.nodes
    gpus = vllm_gpu_count(s)
    per_node = -(-gpus // nodes)
    header = [
        f"vLLM {VLLM_VERSION}: {request.label()}",
        f"Settings from sizer's estimate: max model length {s.ctx:,}, {s.max_num_seqs} sequences at most, "
        f"tensor parallel {s.tensor_parallel} x pipeline parallel {s.pipeline_parallel}, "
        f"{s.gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION:g} of each GPU's memory, KV cache {s.kv_type_k}.",
        f"Install: pip install vllm=={VLLM_VERSION} (the version these flags were checked against).",
    ]
    plan = EnginePlan(served_model_name=served, model_source=model, port=port, health_path=VLLM_HEALTH, kubernetes=True, notes=notes)
    ray = nodes > 1
    serve = _vllm_serve_args(self, request, model, served, host=request.host, port=port, ray=ray)
    if not ray:
        script = shell_script(header, [format_command(serve, prefix="exec ")])
        plan.commands.append(Artifact(name="vllm serve launch command", kind="command", filename="run.sh", content=script, language="sh"))
    else:
        head_body = [
            shlex.join(["ray", "start", "--head", f"--port={RAY_PORT}"]),
            f"echo {shlex.quote(f'waiting for {gpus} GPUs ({nodes} nodes) to join the Ray cluster')}",
            ray_wait_for_gpus(gpus),
            format_command(serve, prefix="exec "),
        ]
        worker_body = [
            ': "${HEAD_NODE_IP:?set HEAD_NODE_IP to the head node\'s address}"',
            f'exec ray start --address="$HEAD_NODE_IP:{RAY_PORT}" --block',
        ]
        plan.commands += [
            Artifact(name="vLLM head node (Ray head + vllm serve)", kind="command", filename="run-head.sh",
                     content=shell_script([*header, f"Run on the head node, then run-worker.sh on the other {nodes - 1} node(s)."], head_body),
                     language="sh"),
            Artifact(name="vLLM worker node (Ray worker)", kind="command", filename="run-worker.sh",
                     content=shell_script([f"vLLM {VLLM_VERSION} worker: {request.label()}",
                                           f"Run on each of the other {nodes - 1} node(s): HEAD_NODE_IP=<head address> ./run-worker.sh"], worker_body),
                     language="sh"),
        ]
        plan.smoke_where = "on the head node"
        plan.notes.append(
            f"several nodes: Ray joins {nodes} nodes of {per_node} GPU(s); every node downloads the weights into its own cache, "
            "and the nodes must reach each other on all ports (set VLLM_HOST_IP and NCCL_SOCKET_IFNAME when a node has several networks)"
        )
    vendor = request.gpu_vendor or ("nvidia" if request.machine is None else None)
    if vendor != "nvidia":
        plan.no_container_reason = f"sizer names vLLM's CUDA image only; this plan's GPUs are {vendor or 'not NVIDIA'}"
        return plan
    accelerators = request.accelerators
    device_ids = [str(a.index) for a in accelerators[:per_node]] if accelerators and per_node < len(accelerators) else None
    mounts = [Mount(target=VLLM_HF_CACHE)]
    if request.model_path is not None:
        mounts.append(Mount(target=str(request.model_path), source=str(request.model_path), read_only=True, kind="bind"))
    common = dict(
        image=VLLM_IMAGE,
        gpu_vendor="nvidia",
        gpus=per_node,
        gpu_device_ids=device_ids,
        gpu_product=accelerators[0].name if accelerators else None,
        shm_size=VLLM_SHM,
        mounts=mounts,
        secrets=["HF_TOKEN"],
        start_period_s=3600,
    )
    # One node: the container's own port, published as `port`; several: host networking, so `port` itself.
    container_port = port if ray else VLLM_PORT
    container_serve = _vllm_serve_args(self, request, model, served, host="0.0.0.0", port=container_port, ray=ray)
    health = ["python3", "-c", f"import urllib.request; urllib.request.urlopen('http://localhost:{container_port}{VLLM_HEALTH}')"]
    if not ray:
        plan.containers.append(
            ContainerSpec(name="vllm", entrypoint=["vllm", "serve"], args=container_serve[2:], port=VLLM_PORT,
                          health_path=VLLM_HEALTH, health_test=health, **common)
        )
        return plan
    head_script = "\n".join([
        shlex.join(["ray", "start", "--head", f"--port={RAY_PORT}"]),
        ray_wait_for_gpus(gpus),
        "exec " + shlex.join(container_serve),
    ])
    worker_script = "\n".join(worker_body)
    plan.containers += [
        ContainerSpec(name="vllm-head", role="head", entrypoint=["/bin/sh", "-c"], args=[head_script], port=container_port,
                      health_path=VLLM_HEALTH, health_test=health, cluster_port=RAY_PORT, host_network=True, **common),
        ContainerSpec(name="vllm-worker", role="worker", entrypoint=["/bin/sh", "-c"], args=[worker_script], port=0,
                      health_path=None, head_address_env="HEAD_NODE_IP", replicas=nodes - 1, host_network=True,
                      # ray/scripts/scripts.py `ray health-check`: exit 0 while the head's GCS answers.
                      liveness_command=["/bin/sh", "-c", f'ray health-check --address "$HEAD_NODE_IP:{RAY_PORT}"'], **common),
    ]
    plan.notes.append(
        "docker-compose.yml for several nodes: on the head run `docker compose --profile head up -d`, on each other node "
        "`HEAD_NODE_IP=<head address> docker compose --profile worker up -d` (host networking, as Ray needs)"
    )
    return plan


Vllm.deployment = _vllm_deployment  # type: ignore[attr-defined]
