"""The GPU side of an Apple Silicon chip: unified memory, GPU cores and the GPU working-set limit.

Reads ``sysctl hw machdep.cpu.brand_string iogpu.wired_limit_mb`` once (one process, a few ms),
then the GPU core count from the IO registry (``ioreg -rc AGXAccelerator -d 1``, property
``gpu-core-count``; wandb/wandb#12680 measured about 2 ms against about 260 ms for
``system_profiler``), falling back to ``system_profiler SPDisplaysDataType -json`` (``sppci_cores``).

How much of unified memory the GPU may use is Metal's ``recommendedMaxWorkingSetSize``. It follows
``iogpu.wired_limit_mb`` exactly when that is set (non-zero); otherwise macOS picks a default that
depends on RAM and on the macOS version — see :func:`default_working_set_bytes`.
"""

from __future__ import annotations

import json
import re
from typing import Mapping, Optional

from sizer.types import Accelerator

from ._probe import Probe

SYSCTL_NAMES = ("hw", "machdep.cpu.brand_string", "iogpu.wired_limit_mb")
MIB = 1 << 20
GIB = 1 << 30

# (upper bound of RAM in GiB, fraction of RAM Metal recommends, what it rests on). Measured
# recommendedMaxWorkingSetSize values, as collected in shared/ground_truth/runtime_logs.json
# (const-apple-recommended-working-set):
#   16 GiB -> 10922.67 MiB (2/3): abetlen/llama-cpp-python#687 (M1 16 GB)
#   32 GiB -> 21845.34 MiB (2/3): ggml-org/llama.cpp#2011 (M1 Max 32 GB), ollama/ollama#434 (M2 Max 32 GB)
#   64 GiB -> "around 49 GB" (3/4): ggml-org/llama.cpp#1870 (M2 Max 64 GB)
#   96 GiB -> 73728.00 MiB (3/4): ggml-org/llama.cpp#3213 (M2 Max 96 GB)
#   128 GiB -> 107.52 GiB (0.84) on macOS 26: antirez/ds4#893 (two machines, M5 Max and another generation)
# Approximations: the boundary between 2/3 and 3/4 (put after 36 GiB) is not measured, nor is
# anything above 128 GiB; older macOS versions gave 3/4 at 128 GiB. The live value is
# MTLDevice.recommendedMaxWorkingSetSize, which sizer cannot read without Metal bindings.
DEFAULT_WORKING_SET: tuple[tuple[float, float, str], ...] = (
    (36, 2 / 3, "2/3 of RAM (measured at 16 and 32 GiB)"),
    (127, 3 / 4, "3/4 of RAM (measured at 64 and 96 GiB)"),
    (float("inf"), 107.52 / 128, "84% of RAM (measured at 128 GiB on macOS 26)"),
)


def default_working_set_bytes(memsize: int) -> tuple[int, str]:
    """macOS's default GPU working-set limit for ``memsize`` bytes of RAM, and the rule used."""
    gib = memsize / GIB
    for upper, fraction, rule in DEFAULT_WORKING_SET:
        if gib <= upper:
            return int(memsize * fraction), rule
    raise AssertionError("unreachable: the last rule has no upper bound")


def parse_sysctl(text: str) -> dict[str, str]:
    """``name: value`` lines of ``sysctl`` output (without ``-n``) as a mapping."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            values[name.strip()] = value.strip()
    return values


def read_sysctl(probe: Probe) -> dict[str, str]:
    """The hw.* tree, the CPU brand and the GPU wired limit in one ``sysctl`` call ({} if it cannot run)."""
    return parse_sysctl(probe.run(["sysctl", *SYSCTL_NAMES]) or "")


def gpu_cores_from_ioreg(text: str) -> Optional[int]:
    match = re.search(r'"gpu-core-count"\s*=\s*(\d+)', text)
    return int(match.group(1)) if match else None


def gpu_cores_from_system_profiler(text: str) -> Optional[int]:
    try:
        items = json.loads(text).get("SPDisplaysDataType", [])
    except (ValueError, AttributeError):
        return None
    for item in items:
        cores = item.get("sppci_cores") if isinstance(item, dict) else None
        if cores is not None and str(cores).isdigit():
            return int(cores)
    return None


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def is_apple_silicon(sysctl: Mapping[str, str]) -> bool:
    return sysctl.get("hw.optional.arm64") == "1" or sysctl.get("machdep.cpu.brand_string", "").startswith("Apple")


def detect_apple(probe: Probe, sysctl: Mapping[str, str]) -> tuple[list[Accelerator], list[str]]:
    """The Apple GPU with its unified memory and working-set limit; warnings for what is estimated or missing."""
    if not is_apple_silicon(sysctl):
        return [], []
    warnings: list[str] = []
    unknown: list[str] = []
    name = sysctl.get("machdep.cpu.brand_string") or "Apple Silicon"
    memsize = _int(sysctl.get("hw.memsize"))

    cores = gpu_cores_from_ioreg(probe.run(["ioreg", "-rc", "AGXAccelerator", "-d", "1"]) or "")
    if cores is None:
        cores = gpu_cores_from_system_profiler(probe.run(["system_profiler", "SPDisplaysDataType", "-json"]) or "")
    if cores is None:
        unknown.append("gpu_cores: neither ioreg (gpu-core-count) nor system_profiler (sppci_cores) reported it")

    working_set = None
    wired_mb = _int(sysctl.get("iogpu.wired_limit_mb"))
    if wired_mb:
        working_set = wired_mb * MIB
    elif memsize:
        working_set, rule = default_working_set_bytes(memsize)
        source = "iogpu.wired_limit_mb is 0 (the default)" if wired_mb == 0 else "iogpu.wired_limit_mb is not available"
        warnings.append(
            f"Apple: GPU working-set limit estimated as {rule}: {working_set / GIB:.1f} GiB ({source}); "
            "Metal's recommendedMaxWorkingSetSize is the exact value"
        )
    else:
        unknown.append("working_set_limit_bytes: hw.memsize was not reported")
    if memsize is None:
        unknown.append("memory_total_bytes: hw.memsize was not reported")

    return [
        Accelerator(
            index=0,
            vendor="apple",
            name=name,
            memory_total_bytes=memsize,
            unified_memory=True,
            working_set_limit_bytes=working_set,
            gpu_cores=cores,
            unknown=unknown,
        )
    ], warnings
