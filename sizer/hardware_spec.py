"""`--hardware SPEC`: turn a short description of a machine into a :class:`Machine`.

Forms (case-insensitive, spaces ignored):

* ``rtx-4090``            one catalog device (a GPU, an Apple chip, a CPU platform)
* ``2xrtx-3090``          several identical GPUs in one host (``2 x rtx-3090`` too)
* ``2x8xh100-sxm``        several nodes: 2 hosts of 8 GPUs each
* ``m2-max-38c@64``       the unified-memory size of an Apple chip, in GB
* ``cpu@128``             the RAM of a CPU-only machine (``cpu`` = a generic desktop platform)
* ``rtx-4090@64``         a GPU host with 64 GB of system RAM (for partial offload)
* ``machine.json``        a file holding a Machine (``sizer schema detect`` → ``data``)
* ``local``               what detection finds on this machine
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from pydantic import ValidationError

from sizer import catalog
from sizer.errors import DataFileError, InvalidInputError
from sizer.types import Accelerator, Cpu, HardwareEntry, Host, Machine, SystemMemory

GIB = 2**30

# `cpu` alone names this platform: a current desktop, so a CPU-only estimate has a bandwidth.
GENERIC_CPU_PLATFORM = "cpu-ddr5-5600-2ch"

_SPEC = re.compile(r"^(?:(?P<nodes>\d+)x(?=\d+x))?(?:(?P<count>\d+)x)?(?P<id>[a-z0-9][a-z0-9.\-]*?)(?:@(?P<gb>\d+(?:\.\d+)?))?$")


def accelerator_from_entry(entry: HardwareEntry, index: int = 0, *, memory_gib: Optional[float] = None) -> Accelerator:
    """An accelerator with the catalog's figures, as a planned (not detected) device."""
    unified = entry.kind == "apple-silicon"
    total_gib = memory_gib if unified else entry.memory_gib
    total_bytes = int(total_gib * GIB) if total_gib else None
    working_set = None
    if unified and total_bytes:
        from sizer.detect.apple import default_working_set_bytes

        working_set, _rule = default_working_set_bytes(total_bytes)
    unknown = [
        f"{field}: not in catalog"
        for field in ("memory_bandwidth_gb_s", "fp16_tflops")
        if getattr(entry, field) is None
    ]
    return Accelerator(
        index=index,
        vendor=entry.vendor,
        name=entry.name,
        catalog_id=entry.id,
        memory_total_bytes=total_bytes,
        memory_free_bytes=total_bytes,
        unified_memory=unified,
        working_set_limit_bytes=working_set,
        memory_bandwidth_gb_s=entry.memory_bandwidth_gb_s,
        fp16_tflops=entry.fp16_tflops,
        bf16_tflops=entry.bf16_tflops,
        fp8_tflops=entry.fp8_tflops,
        fp32_tflops=entry.fp32_tflops,
        fp8_support=entry.fp8_support,
        int8_support=entry.int8_support,
        compute_capability=entry.compute_capability,
        gpu_cores=entry.gpu_cores,
        tdp_w=entry.tdp_w,
        price_usd=entry.price_usd,
        unknown=unknown,
    )


def _host_for(entry: HardwareEntry, count: int, size_gb: Optional[float], warnings: list[str]) -> Host:
    if entry.kind == "cpu-platform":
        if count != 1:
            raise InvalidInputError(f"'{entry.id}' is a CPU platform: a count ({count}x) applies to GPUs only")
        ram = int(size_gb * GIB) if size_gb else None
        if ram is None:
            warnings.append(f"{entry.id}: RAM size not given (write {entry.id}@GB, e.g. {entry.id}@64)")
        return Host(
            cpu=Cpu(brand=entry.name, physical_cores=entry.cpu_cores),
            memory=SystemMemory(
                total_bytes=ram,
                available_bytes=ram,
                bandwidth_gb_s=entry.memory_bandwidth_gb_s,
                bandwidth_source=f"catalog:{entry.id}",
            ),
            cpu_platform_id=entry.id,
        )
    if entry.kind == "apple-silicon":
        if count != 1:
            raise InvalidInputError(f"'{entry.id}' is an Apple chip: it cannot be multiplied ({count}x)")
        sizes = entry.memory_options_gib
        if size_gb is None:
            size_gb = max(sizes)
            warnings.append(f"{entry.id}: unified memory not given, assuming the largest sold ({size_gb:g} GB); write {entry.id}@GB")
        elif size_gb not in sizes:
            sold = ", ".join(f"{s:g}" for s in sizes)
            raise InvalidInputError(f"'{entry.id}' is sold with {sold} GB of unified memory, not {size_gb:g}")
        total = int(size_gb * GIB)
        return Host(
            cpu=Cpu(brand=entry.name, physical_cores=entry.cpu_cores, architecture="arm64", features=["neon"]),
            memory=SystemMemory(
                total_bytes=total,
                available_bytes=total,
                bandwidth_gb_s=entry.memory_bandwidth_gb_s,
                bandwidth_source=f"catalog:{entry.id}",
            ),
            accelerators=[accelerator_from_entry(entry, memory_gib=size_gb)],
        )
    # Without @GB the host's RAM is unknown: engines that would offload to it say so (an `unknowns` entry).
    ram = int(size_gb * GIB) if size_gb else None
    return Host(
        memory=SystemMemory(total_bytes=ram, available_bytes=ram),
        accelerators=[accelerator_from_entry(entry, index=i) for i in range(count)],
    )


def parse_hardware_spec(spec: str) -> Machine:
    """A Machine from a `--hardware` value; a spec that does not parse is an InvalidInputError."""
    text = spec.strip()
    if not text:
        raise InvalidInputError("empty --hardware value")
    if text.lower() == "local":
        from sizer.detect import detect_machine

        return detect_machine()
    path = Path(text).expanduser()
    if text.endswith(".json") or path.is_file():
        return load_machine_file(path)
    compact = re.sub(r"\s+", "", text.lower())
    match = _SPEC.match(compact)
    if not match:
        raise InvalidInputError(
            f"cannot read hardware spec '{spec}': expected ID, NxID, NODESxNxID, ID@GB, a machine .json file, or 'local'"
        )
    nodes = int(match["nodes"] or 1)
    count = int(match["count"] or 1)
    size_gb = float(match["gb"]) if match["gb"] else None
    if nodes < 1 or count < 1 or nodes * count > 4096:
        raise InvalidInputError(f"hardware spec '{spec}': node and device counts must be between 1 and 4096 in total")
    if size_gb is not None and not 0 < size_gb <= 65536:
        raise InvalidInputError(f"hardware spec '{spec}': memory size must be between 0 and 65536 GB")
    warnings: list[str] = []
    hardware_id = match["id"]
    if hardware_id == "cpu":
        hardware_id = GENERIC_CPU_PLATFORM
        entry = catalog.get_hardware(hardware_id)
        warnings.append(
            f"cpu: assuming a desktop with {entry.name} ({entry.memory_bandwidth_gb_s:g} GB/s); name a platform "
            "from `sizer hardware --kind cpu-platform` for other figures"
        )
    entry = catalog.get_hardware(hardware_id)
    hosts = [_host_for(entry, count, size_gb, warnings) for _ in range(nodes)]
    for number, host in enumerate(hosts):
        host.hostname = f"node-{number}" if nodes > 1 else None
    label = f"{nodes}x{count}x{entry.id}" if nodes > 1 else (f"{count}x{entry.id}" if count > 1 else entry.id)
    return Machine(name=label + (f"@{size_gb:g}" if size_gb else ""), hosts=hosts, warnings=warnings)


def load_machine_file(path: Path) -> Machine:
    """A Machine from JSON: either a bare Machine or a `sizer detect --json` envelope."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(document, dict) and "data" in document and "schema_version" in document:
        document = document["data"]
    try:
        return Machine.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise DataFileError(f"{path}: {where}: {first['msg']}") from None
