"""System RAM and the container limits that cap it.

RAM comes from psutil. Limits come from the cgroup the process is in, read from ``/proc/self/cgroup``:

- cgroup v2 (``/sys/fs/cgroup/cgroup.controllers`` exists): ``memory.max`` and ``cpu.max``
  ("max 100000" = none, "50000 100000" = half a CPU).
- cgroup v1: ``memory/memory.limit_in_bytes`` (no limit reads as PAGE_COUNTER_MAX × page size,
  9223372036854771712 with 4 KiB pages) and ``cpu/cpu.cfs_quota_us`` ÷ ``cpu.cfs_period_us``
  (-1 = none).

The path in ``/proc/self/cgroup`` is the one seen from the host: inside a container the same
files usually sit at the mount root instead (OSGeo/gdal#8968: Docker on Amazon Linux 2 shows
``4:memory:/ecs/<task>/<container>`` while the limit is at ``/sys/fs/cgroup/memory/memory.limit_in_bytes``).
So every directory from the process's cgroup up to the mount root is read, and the smallest limit
found wins — which is also the effective limit when a parent cgroup is tighter than the child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sizer.types import SystemMemory

from ._probe import Probe

CGROUP_ROOT = "/sys/fs/cgroup"
V1_UNLIMITED = 1 << 60
"""cgroup v1 reports "no limit" as a huge page-aligned number; anything this large is no limit."""

V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")
CONTAINER_HINTS = ("docker", "kubepods", "containerd", "libpod", "lxc", "/ecs/", "crio", "garden")


@dataclass
class CgroupLimits:
    """What the process's cgroup allows it."""

    version: Optional[int] = None
    memory_limit_bytes: Optional[int] = None
    memory_used_bytes: Optional[int] = None
    """Charged memory minus reclaimable inactive file cache (what ``docker stats`` shows as usage)."""
    cpu_quota: Optional[float] = None
    path: Optional[str] = None


def parse_proc_self_cgroup(text: str) -> dict[str, str]:
    """Controller -> cgroup path; the cgroup v2 entry ("0::/path") is under the key ""."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            paths[""] = path
            continue
        for controller in controllers.split(","):
            if not controller.startswith("name="):
                paths[controller] = path
    return paths


def cgroup_dirs(mount: str, cgroup_path: str) -> list[str]:
    """Directories from the cgroup's own up to the mount root, deepest first."""
    parts = [p for p in cgroup_path.strip("/").split("/") if p and p not in (".", "..")]
    return [mount + "".join("/" + p for p in parts[:n]) for n in range(len(parts), -1, -1)]


def _read_int(probe: Probe, path: str) -> Optional[int]:
    text = probe.read(path)
    if text is None:
        return None
    try:
        return int(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def _stat_value(probe: Probe, path: str, key: str) -> Optional[int]:
    text = probe.read(path)
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _min_int(values: list[Optional[int]]) -> Optional[int]:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _min_float(values: list[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _v2_memory_max(probe: Probe, directory: str) -> Optional[int]:
    text = probe.read(directory + "/memory.max")
    if text is None or text.strip() == "max":
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _v2_cpu_max(probe: Probe, directory: str) -> Optional[float]:
    text = probe.read(directory + "/cpu.max")
    if text is None:
        return None
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if period > 0 else None


def _v1_cpu_quota(probe: Probe, directory: str) -> Optional[float]:
    quota = _read_int(probe, directory + "/cpu.cfs_quota_us")
    period = _read_int(probe, directory + "/cpu.cfs_period_us")
    if quota is None or quota < 0 or not period:
        return None
    return quota / period


def _usage(probe: Probe, directory: str, usage_file: str, stat_key: str) -> Optional[int]:
    used = _read_int(probe, f"{directory}/{usage_file}")
    if used is None:
        return None
    inactive = _stat_value(probe, directory + "/memory.stat", stat_key) or 0
    return max(0, used - inactive)


def read_cgroup(probe: Probe) -> CgroupLimits:
    """The memory and CPU limits of the cgroup this process runs in (all None when there are none)."""
    text = probe.read("/proc/self/cgroup")
    if text is None:
        return CgroupLimits()
    paths = parse_proc_self_cgroup(text)
    if probe.exists(CGROUP_ROOT + "/cgroup.controllers"):
        return _read_v2(probe, paths.get("", "/"))
    if "memory" in paths or "cpu" in paths:
        return _read_v1(probe, paths)
    return CgroupLimits()


def _read_v2(probe: Probe, path: str) -> CgroupLimits:
    dirs = cgroup_dirs(CGROUP_ROOT, path)
    limit = _min_int([_v2_memory_max(probe, d) for d in dirs])
    used = next((u for d in dirs if (u := _usage(probe, d, "memory.current", "inactive_file")) is not None), None)
    quota = _min_float([_v2_cpu_max(probe, d) for d in dirs])
    return CgroupLimits(2, limit, used, quota, path)


def _read_v1(probe: Probe, paths: dict[str, str]) -> CgroupLimits:
    limit: Optional[int] = None
    used: Optional[int] = None
    quota: Optional[float] = None
    if "memory" in paths:
        dirs = cgroup_dirs(CGROUP_ROOT + "/memory", paths["memory"])
        values = [_read_int(probe, d + "/memory.limit_in_bytes") for d in dirs]
        limit = _min_int([v for v in values if v is not None and v < V1_UNLIMITED])
        used = next(
            (u for d in dirs if (u := _usage(probe, d, "memory.usage_in_bytes", "total_inactive_file")) is not None),
            None,
        )
    if "cpu" in paths:
        for mount in V1_CPU_MOUNTS:
            if probe.exists(f"{CGROUP_ROOT}/{mount}"):
                quota = _min_float([_v1_cpu_quota(probe, d) for d in cgroup_dirs(f"{CGROUP_ROOT}/{mount}", paths["cpu"])])
                break
    return CgroupLimits(1, limit, used, quota, paths.get("memory") or paths.get("cpu"))


def in_container(probe: Probe) -> bool:
    """True when the process looks containerized: Docker/Podman marker files or a container cgroup path."""
    if probe.exists("/.dockerenv") or probe.exists("/run/.containerenv"):
        return True
    for path in ("/proc/self/cgroup", "/proc/1/cgroup"):
        text = probe.read(path) or ""
        if any(hint in text for hint in CONTAINER_HINTS):
            return True
    environ = probe.read("/proc/1/environ") or ""
    return any(var.startswith("container=") for var in environ.split("\0"))


def detect_memory(probe: Probe) -> tuple[SystemMemory, CgroupLimits, list[str]]:
    """Host RAM from psutil, capped by the cgroup limit; the cgroup read; warnings."""
    warnings: list[str] = []
    total = available = None
    try:
        vm = probe.virtual_memory()
        total, available = int(vm.total), int(vm.available)
    except Exception as err:  # psutil missing or failing: say so, keep going
        warnings.append(f"memory: system RAM could not be read ({type(err).__name__}: {err})")

    limits = read_cgroup(probe) if probe.system == "Linux" else CgroupLimits()
    if limits.memory_limit_bytes is not None and limits.memory_used_bytes is not None:
        room = max(0, limits.memory_limit_bytes - limits.memory_used_bytes)
        available = room if available is None else min(available, room)
    memory = SystemMemory(total_bytes=total, available_bytes=available, cgroup_limit_bytes=limits.memory_limit_bytes)
    return memory, limits, warnings
