"""Hardware detection: what the machine sizer runs on has, as a :class:`sizer.types.Machine`.

Detection never raises: a missing driver, library, binary or permission becomes a line in
``Machine.warnings`` or an entry in ``Accelerator.unknown``. Each detector reads the OS only
through a :class:`Probe`, so tests replay recorded outputs (``tests/fixtures/``).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Optional

from sizer.types import Accelerator, Host, Machine

from ._probe import Probe, default_run
from .amd import detect_amd
from .apple import detect_apple, read_sysctl
from .cpu import detect_cpu
from .memory import detect_memory, in_container
from .nvidia import detect_nvidia

__all__ = ["Probe", "default_run", "detect_machine", "enrich_from_catalog"]

CATALOG_FIELDS = (
    # Accelerator field, HardwareEntry field: filled from the catalog when detection left it empty
    ("memory_bandwidth_gb_s", "memory_bandwidth_gb_s"),
    ("fp16_tflops", "fp16_tflops"),
    ("bf16_tflops", "bf16_tflops"),
    ("fp8_tflops", "fp8_tflops"),
    ("fp32_tflops", "fp32_tflops"),
    ("fp8_support", "fp8_support"),
    ("int8_support", "int8_support"),
    ("compute_capability", "compute_capability"),
    ("tdp_w", "tdp_w"),
    ("price_usd", "price_usd"),
)
REPORTED_IF_MISSING = ("memory_bandwidth_gb_s", "fp16_tflops", "bf16_tflops", "fp8_tflops", "fp8_support",
                       "int8_support", "tdp_w", "price_usd")


def _catalog_matcher(probe: Probe) -> Callable[..., Any]:
    if probe.match_accelerator is not None:
        return probe.match_accelerator
    return importlib.import_module("sizer.catalog").match_accelerator


def enrich_from_catalog(acc: Accelerator, match: Callable[..., Any]) -> Accelerator:
    """``acc`` with the catalog's figures for its device filled in, or its gaps listed in ``unknown``."""
    entry = match(acc.name, vendor=acc.vendor, memory_bytes=acc.memory_total_bytes, gpu_cores=acc.gpu_cores)
    update: dict[str, Any] = {}
    unknown = list(acc.unknown)
    if entry is None:
        unknown.append(f"catalog_id: no catalog entry matches {acc.name!r}")
        unknown.extend(f"{f}: not in catalog" for f in REPORTED_IF_MISSING if getattr(acc, f) is None)
        return acc.model_copy(update={"unknown": unknown})
    update["catalog_id"] = entry.id
    for field, entry_field in CATALOG_FIELDS:
        if getattr(acc, field) is None and getattr(entry, entry_field, None) is not None:
            update[field] = getattr(entry, entry_field)
    for field in REPORTED_IF_MISSING:
        if getattr(acc, field) is None and update.get(field) is None:
            unknown.append(f"{field}: not in catalog entry {entry.id}")
    update["unknown"] = unknown
    return acc.model_copy(update=update)


def _guarded(name: str, warnings: list[str], fn: Callable[[], Any], empty: Any) -> Any:
    """Run one detector; an unexpected exception becomes a warning and ``empty``."""
    try:
        result, found = fn()
    except Exception as err:  # detection must never crash the CLI
        warnings.append(f"{name}: detection failed unexpectedly ({type(err).__name__}: {err})")
        return empty
    warnings.extend(found)
    return result


def detect_machine(*, bench: bool = False, probe: Optional[Probe] = None) -> Machine:
    """Detect this machine: one host with its CPU, memory (capped by any container limit) and accelerators.

    ``bench`` measures the memory bandwidth for a few seconds (and GPU 0's where PyTorch is
    installed); the measured figures replace the catalog's. ``probe`` replaces the OS boundary
    (tests); by default the real machine is read.
    """
    probe = probe or Probe()
    warnings: list[str] = []

    sysctl: dict[str, str] = {}
    if probe.system == "Darwin":
        sysctl = _guarded("macOS", warnings, lambda: (read_sysctl(probe), []), {})
        if not sysctl:
            warnings.append("macOS: sysctl reported nothing; CPU and Apple GPU details are unknown")

    cpu = _guarded("CPU", warnings, lambda: detect_cpu(probe, sysctl=sysctl), None)
    memory, limits = _guarded("memory", warnings, lambda: _memory(probe), (None, None)) or (None, None)

    accelerators: list[Accelerator] = []
    if probe.system != "Darwin":
        accelerators += _guarded("NVIDIA", warnings, lambda: detect_nvidia(probe), [])
    if probe.system == "Linux":
        accelerators += _guarded("AMD", warnings, lambda: detect_amd(probe), [])
    if probe.system == "Darwin":
        accelerators += _guarded("Apple", warnings, lambda: detect_apple(probe, sysctl), [])

    if accelerators:
        try:
            match = _catalog_matcher(probe)
            accelerators = [enrich_from_catalog(a, match) for a in accelerators]
        except Exception as err:
            warnings.append(f"catalog: accelerators were not matched to the hardware catalog ({type(err).__name__}: {err})")
            accelerators = [
                a.model_copy(update={"unknown": [*a.unknown, "catalog_id: the hardware catalog could not be read"]})
                for a in accelerators
            ]

    host: dict[str, Any] = {"accelerators": accelerators, "os": f"{probe.system} {probe.release}".strip() or None}
    try:
        host["hostname"] = probe.hostname()
    except Exception as err:
        warnings.append(f"host: hostname unavailable ({err})")
    try:
        host["in_container"] = in_container(probe)
    except Exception as err:
        warnings.append(f"host: container check failed ({err})")
    if cpu is not None:
        if limits is not None and limits.cpu_quota is not None:
            cpu = cpu.model_copy(update={"cpu_quota": limits.cpu_quota})
        host["cpu"] = cpu
    if memory is not None:
        host["memory"] = memory
    if bench:
        _bench(host, warnings)
    return Machine(hosts=[Host(**host)], warnings=warnings)


def _bench(host: dict[str, Any], warnings: list[str]) -> None:
    """Replace catalog bandwidths by measured ones (never fails detection)."""
    from sizer.types import SystemMemory

    from .bench import measure_gpu_bandwidth, measure_memory_bandwidth

    memory = host.get("memory") or SystemMemory()
    cpu = host.get("cpu")
    try:
        measured = measure_memory_bandwidth(threads=cpu.physical_cores if cpu else None, available_bytes=memory.available_bytes)
        host["memory"] = memory.model_copy(update={"bandwidth_gb_s": measured, "bandwidth_source": "measured"})
    except Exception as err:  # noqa: BLE001 - a benchmark must not break detection
        warnings.append(f"bench: memory bandwidth not measured ({type(err).__name__}: {err})")
    accelerators = host.get("accelerators") or []
    if accelerators and accelerators[0].vendor == "nvidia":
        try:
            gpu = measure_gpu_bandwidth()
        except Exception as err:  # noqa: BLE001
            gpu = None
            warnings.append(f"bench: GPU bandwidth not measured ({type(err).__name__}: {err})")
        if gpu:
            accelerators[0] = accelerators[0].model_copy(update={"memory_bandwidth_gb_s": gpu})
        elif gpu is None:
            warnings.append("bench: GPU bandwidth not measured (needs PyTorch with CUDA); using the catalog figure")


def _memory(probe: Probe) -> tuple[Any, list[str]]:
    memory, limits, warnings = detect_memory(probe)
    return (memory, limits), warnings
