"""NVIDIA GPUs through NVML (the ``pynvml`` module of the nvidia-ml-py package).

Every NVML call can fail — no library, no driver, no permission, a query the board does not
support — and each failure becomes a warning or an entry in ``Accelerator.unknown``, never an
exception. ``nvmlShutdown`` always runs once ``nvmlInit`` succeeded.

NVLink peers follow PyTorch's detector (torch/csrc/distributed/c10d/symm_mem/CudaDMAConnectivity.cpp):
a link whose remote end is a GPU names that GPU by its PCI bus id; a link whose remote end is an
NVSwitch (HGX/DGX boards) connects the GPU to every other GPU that also has switch links — all
NVSwitches of a board are assumed interconnected.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from sizer.types import Accelerator

from ._probe import Probe

NVIDIA_PCI_VENDOR = "0x10de"
NVIDIA_HINT_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")
"""Files that exist only where an NVIDIA driver (or WSL's GPU paravirtualization) is installed."""


def nvidia_pci_devices(probe: Probe) -> list[str]:
    """PCI addresses of NVIDIA display/3D controllers listed in sysfs (visible even without a driver)."""
    devices_dir = probe.path("/sys/bus/pci/devices")
    found = []
    try:
        entries = sorted(devices_dir.iterdir())
    except OSError:
        return []
    for entry in entries:
        try:
            vendor = (entry / "vendor").read_text().strip().lower()
            klass = (entry / "class").read_text().strip().lower()
        except OSError:
            continue
        if vendor == NVIDIA_PCI_VENDOR and klass.startswith("0x03"):
            found.append(entry.name)
    return found


class _NeverRaised(Exception):
    """Stands in for an NVML exception class a binding does not define, so ``except`` matches nothing."""


def _error(nvml: Any, name: str) -> type[BaseException]:
    found = getattr(nvml, name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else _NeverRaised


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _enum(value: Any) -> Any:
    """pynvml 13 defines ``NVML_P2P_CAPS_INDEX_READ = 0,`` — a one-element tuple, which ctypes rejects."""
    return value[0] if isinstance(value, tuple) and len(value) == 1 else value


def cuda_version_text(version: int) -> str:
    """nvmlSystemGetCudaDriverVersion_v2 encodes 12.7 as 12070."""
    return f"{version // 1000}.{(version % 1000) // 10}"


class _Session:
    """Wraps NVML calls so each failure is recorded instead of raised."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.error_type = _error(nvml, "NVMLError")

    def call(self, unknown: list[str], field: str, fn_name: str, *args: Any) -> Any:
        fn: Optional[Callable[..., Any]] = getattr(self.nvml, fn_name, None)
        if fn is None:
            unknown.append(f"{field}: this pynvml has no {fn_name}")
            return None
        try:
            return fn(*args)
        except self.error_type as err:
            unknown.append(f"{field}: {fn_name} failed ({err})")
        except Exception as err:  # a ctypes or binding error is still only a missing field
            unknown.append(f"{field}: {fn_name} failed ({type(err).__name__}: {err})")
        return None


def _import_pynvml() -> Any:
    import pynvml  # imported here, not at module load: the CLI must start fast

    return pynvml


def detect_nvidia(probe: Probe) -> tuple[list[Accelerator], list[str]]:
    """Every GPU NVML sees, with links and P2P; warnings for what could not be read."""
    nvml = probe.nvml
    if nvml is None:
        if probe.system == "Linux" and not (
            any(probe.exists(f) for f in NVIDIA_HINT_FILES) or nvidia_pci_devices(probe)
        ):
            return [], []  # no driver and no NVIDIA device on the bus: nothing to look for
        try:
            nvml = _import_pynvml()
        except ImportError:
            return [], ["NVIDIA: the nvidia-ml-py package (pynvml) is not installed; NVIDIA GPUs were not detected"]

    error = _error(nvml, "NVMLError")
    library_missing = _error(nvml, "NVMLError_LibraryNotFound")
    try:
        nvml.nvmlInit()
    except library_missing as err:
        pci = nvidia_pci_devices(probe)
        if probe.system == "Linux" and not pci and not any(probe.exists(f) for f in NVIDIA_HINT_FILES):
            return [], []
        where = f" although NVIDIA devices are on the PCI bus ({', '.join(pci)})" if pci else ""
        return [], [f"NVIDIA: the NVML library (libnvidia-ml) was not found{where}: {err}; "
                    "install the NVIDIA driver to detect these GPUs"]
    except error as err:
        return [], [f"NVIDIA: NVML could not start ({err}); NVIDIA GPUs were not detected"]
    except Exception as err:
        return [], [f"NVIDIA: NVML could not start ({type(err).__name__}: {err}); NVIDIA GPUs were not detected"]

    try:
        return _read_devices(nvml)
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:
            pass


def _read_devices(nvml: Any) -> tuple[list[Accelerator], list[str]]:
    session = _Session(nvml)
    warnings: list[str] = []
    system_unknown: list[str] = []

    driver = session.call(system_unknown, "driver_version", "nvmlSystemGetDriverVersion")
    cuda = session.call(system_unknown, "cuda_version", "nvmlSystemGetCudaDriverVersion_v2")
    count = session.call(system_unknown, "device count", "nvmlDeviceGetCount")
    if not count:
        warnings.extend(f"NVIDIA: {u}" for u in system_unknown if u.startswith("device count"))
        return [], warnings

    handles: list[Any] = []
    records: list[dict[str, Any]] = []
    for index in range(int(count)):
        unknown = [u for u in system_unknown if not u.startswith("device count")]
        handle = session.call(unknown, "device", "nvmlDeviceGetHandleByIndex", index)
        if handle is None:
            warnings.append(f"NVIDIA: GPU {index} could not be opened ({'; '.join(unknown)})")
            continue
        handles.append(handle)
        records.append({"index": index, "handle": handle, "unknown": unknown})

    bus_to_index: dict[str, int] = {}
    for rec in records:
        h, unknown = rec["handle"], rec["unknown"]
        rec["name"] = session.call(unknown, "name", "nvmlDeviceGetName", h)
        mem = session.call(unknown, "memory", "nvmlDeviceGetMemoryInfo", h)
        rec["memory"] = (int(mem.total), int(mem.used), int(mem.free)) if mem is not None else (None, None, None)
        cc = session.call(unknown, "compute_capability", "nvmlDeviceGetCudaComputeCapability", h)
        rec["cc"] = f"{cc[0]}.{cc[1]}" if cc else None
        uuid = session.call(unknown, "uuid", "nvmlDeviceGetUUID", h)
        rec["uuid"] = _text(uuid) if uuid is not None else None
        pci = session.call(unknown, "pci_bus_id", "nvmlDeviceGetPciInfo", h)
        rec["bus"] = _text(pci.busId) if pci is not None else None
        if rec["bus"]:
            bus_to_index[rec["bus"].lower()] = rec["index"]
        power = session.call(unknown, "tdp_w", "nvmlDeviceGetPowerManagementDefaultLimit", h)
        rec["tdp_w"] = power / 1000.0 if power else None

    switch_links: dict[int, int] = {}
    for rec in records:
        rec["links"], rec["peers"], switch_links[rec["index"]] = _nvlinks(nvml, session, rec, bus_to_index)
    switched = {i for i, n in switch_links.items() if n > 0}
    for rec in records:
        if rec["index"] in switched:
            rec["peers"] |= switched - {rec["index"]}

    read_index = _enum(getattr(nvml, "NVML_P2P_CAPS_INDEX_READ", 0))
    ok = getattr(nvml, "NVML_P2P_STATUS_OK", 0)
    for rec in records:
        rec["p2p"] = []
        failures: list[str] = []
        for other in records:
            if other is rec:
                continue
            status = session.call(failures, "p2p_peers", "nvmlDeviceGetP2PStatus", rec["handle"], other["handle"], read_index)
            if status == ok:
                rec["p2p"].append(other["index"])
        if failures:
            rec["unknown"].append(failures[0] + (f" (and {len(failures) - 1} more pairs)" if len(failures) > 1 else ""))

    accelerators = []
    for rec in records:
        total, used, free = rec["memory"]
        accelerators.append(
            Accelerator(
                index=rec["index"],
                vendor="nvidia",
                name=_text(rec["name"]) if rec["name"] is not None else f"NVIDIA GPU {rec['index']}",
                memory_total_bytes=total,
                memory_used_bytes=used,
                memory_free_bytes=free,
                compute_capability=rec["cc"],
                driver_version=_text(driver) if driver is not None else None,
                cuda_version=cuda_version_text(int(cuda)) if cuda else None,
                uuid=rec["uuid"],
                pci_bus_id=rec["bus"],
                nvlink_peers=sorted(rec["peers"]),
                nvlink_active_links=rec["links"],
                p2p_peers=sorted(rec["p2p"]),
                tdp_w=rec["tdp_w"],
                unknown=rec["unknown"],
            )
        )
    return accelerators, warnings


def _nvlinks(nvml: Any, session: _Session, rec: dict[str, Any], bus_to_index: dict[str, int]) -> tuple[Optional[int], set[int], int]:
    """(active links or None if NVLink is unsupported, GPU peers over direct links, links to NVSwitches)."""
    h = rec["handle"]
    max_links = int(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18))
    enabled = getattr(nvml, "NVML_FEATURE_ENABLED", 1)
    gpu_type = getattr(nvml, "NVML_NVLINK_DEVICE_TYPE_GPU", 0)
    switch_type = getattr(nvml, "NVML_NVLINK_DEVICE_TYPE_SWITCH", 2)
    not_supported = _error(nvml, "NVMLError_NotSupported")
    error = _error(nvml, "NVMLError")
    active = 0
    peers: set[int] = set()
    switches = 0
    for link in range(max_links):
        try:
            state = nvml.nvmlDeviceGetNvLinkState(h, link)
        except not_supported:
            if link == 0:
                return None, peers, 0  # no NVLink on this board
            break
        except error:
            break  # past the last link (InvalidArgument) or a broken one: stop counting here
        except Exception as err:
            rec["unknown"].append(f"nvlink: nvmlDeviceGetNvLinkState failed ({type(err).__name__}: {err})")
            break
        if state != enabled:
            continue
        active += 1
        remote_type = None
        try:
            remote_type = nvml.nvmlDeviceGetNvLinkRemoteDeviceType(h, link)
        except Exception:
            remote_type = None  # older drivers lack the call; fall back to the remote PCI id below
        if remote_type == switch_type:
            switches += 1
            continue
        remote: list[str] = []
        pci = session.call(remote, "nvlink_peers", "nvmlDeviceGetNvLinkRemotePciInfo", h, link)
        if pci is None:
            if remote and remote[0] not in rec["unknown"]:
                rec["unknown"].append(remote[0])
            continue
        peer = bus_to_index.get(_text(pci.busId).lower())
        if peer is not None and peer != rec["index"]:
            peers.add(peer)
        elif remote_type not in (None, gpu_type):
            switches += 1
    return active, peers, switches
