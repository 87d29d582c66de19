"""What every engine module provides, and the registry that makes adding an engine adding a file.

An engine module defines one subclass: ``class Vllm(Engine, name="vllm")``.  The subclass
owns everything about its engine: the formats it runs, its defaults, how it spends memory and
places layers, its flags.  The estimator and the recommender only iterate over the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar, Optional

from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate.result import DeviceMemory, MemoryBreakdown, Placement, Settings, Unknown
from sizer.estimate.weights import Weights
from sizer.types import Accelerator, Machine, ModelEntry

MIB = 2**20
GIB = 2**30

_REGISTRY: dict[str, type["Engine"]] = {}


@dataclass
class Request:
    """What the user asked for; None means 'the engine's default'."""

    ctx: Optional[int] = None
    parallel: Optional[int] = None
    kv_type: Optional[str] = None
    kv_type_v: Optional[str] = None
    flash_attn: Optional[bool] = None
    n_batch: Optional[int] = None
    n_ubatch: Optional[int] = None
    gpu_layers: Optional[int] = None
    gpu_memory_utilization: Optional[float] = None
    tensor_parallel: Optional[int] = None
    pipeline_parallel: Optional[int] = None
    max_num_batched_tokens: Optional[int] = None
    enforce_eager: Optional[bool] = None


@dataclass
class EngineResult:
    """An engine's answer: settings it resolved, memory per device, placement."""

    settings: Settings
    memory: MemoryBreakdown
    placement: Optional[Placement]
    fits: Optional[bool]
    warnings: list[str] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)


class Engine:
    """Base of the engine registry; subclasses register themselves by name."""

    name: ClassVar[str]
    label: ClassVar[str]
    weights_format: ClassVar[str]  # "gguf" or "safetensors"
    kv_cache_types: ClassVar[tuple[str, ...]]
    aliases: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, name: str, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if name in _REGISTRY:
            raise TypeError(f"engine '{name}' is registered twice ({_REGISTRY[name].__module__} and {cls.__module__})")
        cls.name = name
        _REGISTRY[name] = cls

    # --- what it runs -------------------------------------------------------------
    def default_quant(self, model: ModelEntry) -> str:
        raise NotImplementedError

    def quant_names(self) -> tuple[str, ...]:
        """Quantization names this engine accepts for --quant."""
        raise NotImplementedError

    def cannot_run(self, model: ModelEntry, quant: str, machine: Optional[Machine]) -> Optional[str]:
        """Why this engine cannot run this model/quant on this machine, or None."""
        return None

    # --- what the recommender walks ---------------------------------------------------
    # Quantizations to try, best quality first; a model's native format replaces the ladder
    # (gpt-oss ships MXFP4) and small models also try 16-bit.  Each engine module sets these.
    LADDER: ClassVar[tuple[str, ...]] = ()
    NATIVE_LADDERS: ClassVar[dict[str, tuple[str, ...]]] = {}
    SMALL_MODEL_EXTRA: ClassVar[tuple[str, ...]] = ()
    # Settings to try when the defaults do not fit (a quantized KV cache), in order.
    KV_FALLBACKS: ClassVar[tuple[dict, ...]] = ()
    # Ranking nudge for what the engine is built for: (one or a few users, many users).
    FIT_BONUS: ClassVar[tuple[float, float]] = (0.0, 0.0)
    # Only models with a known library tag (or a local GGUF) can be run.
    NEEDS_LIBRARY_TAG: ClassVar[bool] = False
    # FP8 runs as W8A8 (needs compute capability 8.9 to gain anything).
    W8A8_FP8: ClassVar[bool] = False

    def quant_ladder(self, model: ModelEntry, params: int, small_model_params: float) -> tuple[str, ...]:
        if model.native_quant in self.NATIVE_LADDERS:
            return self.NATIVE_LADDERS[model.native_quant]
        ladder = self.LADDER
        if model.native_quant and model.native_quant in ladder:
            ladder = (model.native_quant,) + tuple(q for q in ladder if q not in ("bf16", model.native_quant))
        if params < small_model_params:
            ladder = self.SMALL_MODEL_EXTRA + ladder
        return ladder

    def recommendation_reasons(self, model: ModelEntry, placement: Optional[str], users: int, many_users: bool) -> list[str]:
        """What this engine brings to a plan, in a sentence or two."""
        return []

    # --- memory ---------------------------------------------------------------------
    def estimate(self, model: ModelEntry, weights: Weights, request: Request, machine: Optional[Machine]) -> EngineResult:
        raise NotImplementedError


def engine_names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def get_engine(name: str) -> Engine:
    _load_all()
    key = name.strip().lower()
    for engine_name, cls in _REGISTRY.items():
        if key == engine_name or key in cls.aliases:
            return cls()
    raise InvalidInputError(f"unknown backend '{name}'; choose from {', '.join(sorted(_REGISTRY))}")


@lru_cache(maxsize=1)
def _load_all() -> None:
    """Import every engine module so that each registers itself (once per process)."""
    import importlib
    import pkgutil

    import sizer.engines as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"sizer.engines.{info.name}")


# --------------------------------------------------------------------------- helpers

# Per-process driver/context memory on each GPU the engine touches.  llama.cpp's memory
# breakdown reports it as "unaccounted": 451-456 MiB per RTX 4090, 749 MiB on an RTX PRO 6000
# Blackwell (runtime_logs constants const-cuda-overhead-llamacpp-breakdown, llama.cpp PR #15860).
# Keyed by CUDA compute capability major; other NVIDIA parts use the Ada figure.
# It is the driver's, not the engine's: every CUDA engine pays it.
CUDA_CONTEXT_BYTES = {12: 749 * MIB, 8: 453 * MIB}
DEFAULT_CUDA_CONTEXT_BYTES = 453 * MIB

def gpu_context_bytes(accelerator: Accelerator) -> int:
    if accelerator.vendor == "apple":
        return 0
    if accelerator.compute_capability:
        major = int(accelerator.compute_capability.split(".")[0])
        return CUDA_CONTEXT_BYTES.get(major, DEFAULT_CUDA_CONTEXT_BYTES)
    return DEFAULT_CUDA_CONTEXT_BYTES




def pad(value: int, multiple: int) -> int:
    """Round up to a multiple, as GGML_PAD does."""
    return (value + multiple - 1) // multiple * multiple


def gpus(machine: Optional[Machine]) -> list[tuple[int, Accelerator]]:
    """(host index, accelerator) for every GPU-like accelerator of the machine."""
    if machine is None:
        return []
    return [(h, a) for h, host in enumerate(machine.hosts) for a in host.accelerators]


def device_capacity(accelerator: Accelerator) -> Optional[int]:
    """Bytes an engine may allocate on a device: the working-set limit on unified memory, else free VRAM."""
    if accelerator.unified_memory and accelerator.working_set_limit_bytes:
        return accelerator.working_set_limit_bytes
    if accelerator.memory_free_bytes is not None:
        return accelerator.memory_free_bytes
    return accelerator.memory_total_bytes


def check_positive(name: str, value: Optional[int], *, maximum: int) -> None:
    if value is not None and not 0 < value <= maximum:
        raise InvalidInputError(f"{name} must be between 1 and {maximum:,}, got {value}")


def require(condition: bool, message: str) -> None:
    if not condition:
        raise UnsupportedError(message)


def breakdown(devices: list[DeviceMemory]) -> MemoryBreakdown:
    """The four memory terms summed over the devices that hold them."""
    return MemoryBreakdown(
        weights_bytes=sum(d.weights_bytes for d in devices),
        kv_cache_bytes=sum(d.kv_cache_bytes for d in devices),
        compute_bytes=sum(d.compute_bytes for d in devices),
        overhead_bytes=sum(d.overhead_bytes for d in devices),
        total_bytes=sum(d.total_bytes for d in devices),
        devices=devices,
    )


def gpu_server_cannot_run(engine: str, formats: dict[str, tuple], quant: str, machine: Optional[Machine]) -> Optional[str]:
    """Why a CUDA/ROCm serving engine cannot load `quant` here: format, GPU vendor, compute capability."""
    if quant not in formats:
        return f"{engine} does not load '{quant}' checkpoints"
    if machine is None:
        return None
    devices = [a for _, a in gpus(machine) if a.vendor in ("nvidia", "amd")]
    if not devices:
        return f"{engine} needs a CUDA or ROCm GPU"
    need = formats[quant][1]
    for accelerator in devices:
        if accelerator.compute_capability and float(accelerator.compute_capability) < need:
            return f"{quant} kernels in {engine} need compute capability >= {need}, {accelerator.name} has {accelerator.compute_capability}"
    return None

