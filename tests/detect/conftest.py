"""Stand-ins for the OS boundary of sizer.detect, serving recorded outputs from tests/fixtures/.

Only the boundary is faked: files (a fixture directory as ``root``), commands (``run``), binaries
(``which``), NVML (a module-like object raising pynvml's real exception classes) and psutil.
Where each recorded output came from is in tests/fixtures/SOURCES.md.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Optional, Sequence

import pynvml
import pytest

from sizer.detect import Probe
from sizer.types import HardwareEntry, slugify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# Host RAM as psutil reported it on the development VM (25 GB, recorded with `free -b`).
DEV_VM_RAM = SimpleNamespace(total=25276502016, available=24935460864)


# --------------------------------------------------------------------------- NVML


class FakeNVML:
    """pynvml's functions over recorded ``nvidia-smi -q``, ``deviceQuery`` and ``nvidia-smi topo -m`` output.

    Constants and exception classes are pynvml's own (including its ``NVML_P2P_CAPS_INDEX_READ = 0,``
    tuple), so code that works here works against the real module. ``fail`` maps a function name to
    an exception raised on every call of it; ``init_error`` is raised by ``nvmlInit``.
    """

    def __init__(
        self,
        gpus: list[dict[str, Any]],
        driver: str,
        cuda: str,
        peer_access: dict[tuple[int, int], bool],
        nvlink: dict[int, list[tuple[int, Optional[int]]]],
        *,
        init_error: Optional[BaseException] = None,
        fail: Optional[dict[str, BaseException]] = None,
    ) -> None:
        for name in dir(pynvml):
            if name.startswith(("NVMLError", "NVML_")):
                setattr(self, name, getattr(pynvml, name))
        self.gpus = gpus
        self.driver = driver
        self.cuda = cuda
        self.peer_access = peer_access
        self.nvlink = nvlink  # gpu index -> [(remote device type, remote gpu index or None)] per active link
        self.init_error = init_error
        self.fail = fail or {}
        self.initialized = False
        self.init_calls = 0
        self.shutdown_calls = 0

    # ---- lifecycle
    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise self.init_error
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1
        self.initialized = False

    def _check(self, name: str) -> None:
        if not self.initialized:
            raise pynvml.NVMLError_Uninitialized()
        if name in self.fail:
            raise self.fail[name]

    def _gpu(self, handle: Any) -> dict[str, Any]:
        return self.gpus[handle.index]

    # ---- system
    def nvmlSystemGetDriverVersion(self) -> str:
        self._check("nvmlSystemGetDriverVersion")
        return self.driver

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        self._check("nvmlSystemGetCudaDriverVersion_v2")
        major, minor = self.cuda.split(".")
        return int(major) * 1000 + int(minor) * 10

    def nvmlDeviceGetCount(self) -> int:
        self._check("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        self._check("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError_InvalidArgument()
        return SimpleNamespace(index=index)

    # ---- per device
    def nvmlDeviceGetName(self, h: Any) -> str:
        self._check("nvmlDeviceGetName")
        return self._gpu(h)["name"]

    def nvmlDeviceGetMemoryInfo(self, h: Any) -> Any:
        self._check("nvmlDeviceGetMemoryInfo")
        g = self._gpu(h)
        # nvmlMemory_t (v1): used = total - free, i.e. reserved plus allocated (nvml.h).
        return SimpleNamespace(total=g["total"], free=g["free"], used=g["total"] - g["free"])

    def nvmlDeviceGetCudaComputeCapability(self, h: Any) -> tuple[int, int]:
        self._check("nvmlDeviceGetCudaComputeCapability")
        major, minor = self._gpu(h)["cc"].split(".")
        return int(major), int(minor)

    def nvmlDeviceGetUUID(self, h: Any) -> str:
        self._check("nvmlDeviceGetUUID")
        return self._gpu(h)["uuid"]

    def nvmlDeviceGetPciInfo(self, h: Any) -> Any:
        self._check("nvmlDeviceGetPciInfo")
        return SimpleNamespace(busId=self._gpu(h)["bus"].encode())  # a c_char array reads as bytes

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: Any) -> int:
        self._check("nvmlDeviceGetPowerManagementDefaultLimit")
        return int(round(self._gpu(h)["power_w"] * 1000))

    def nvmlDeviceGetNvLinkState(self, h: Any, link: int) -> int:
        self._check("nvmlDeviceGetNvLinkState")
        links = self.nvlink.get(h.index)
        if links is None:
            raise pynvml.NVMLError_NotSupported()
        if not 0 <= link < len(links):
            raise pynvml.NVMLError_InvalidArgument()
        return pynvml.NVML_FEATURE_ENABLED

    def nvmlDeviceGetNvLinkRemoteDeviceType(self, h: Any, link: int) -> int:
        self._check("nvmlDeviceGetNvLinkRemoteDeviceType")
        return self.nvlink[h.index][link][0]

    def nvmlDeviceGetNvLinkRemotePciInfo(self, h: Any, link: int) -> Any:
        self._check("nvmlDeviceGetNvLinkRemotePciInfo")
        remote = self.nvlink[h.index][link][1]
        bus = self.gpus[remote]["bus"] if remote is not None else "00000000:00:00.0"
        return SimpleNamespace(busId=bus.encode())

    def nvmlDeviceGetP2PStatus(self, h1: Any, h2: Any, index: Any) -> int:
        self._check("nvmlDeviceGetP2PStatus")
        if not isinstance(index, int):  # what ctypes does with pynvml's (0,) constant
            raise ctypes.ArgumentError(f"argument 3: wrong type {type(index).__name__}")
        ok = self.peer_access.get((h1.index, h2.index), False)
        return pynvml.NVML_P2P_STATUS_OK if ok else pynvml.NVML_P2P_STATUS_NOT_SUPPORTED


def _field(block: str, name: str) -> Optional[str]:
    match = re.search(rf"^\s*{re.escape(name)}\s*:\s*(.*?)\s*$", block, re.MULTILINE)
    return match.group(1) if match else None


def _mib(text: str) -> int:
    return int(text.split()[0]) * (1 << 20)


def parse_nvidia_smi_q(text: str) -> tuple[str, str, list[dict[str, Any]]]:
    """Driver version, CUDA version and per-GPU records from recorded ``nvidia-smi -q`` text."""
    driver = _field(text, "Driver Version") or ""
    cuda = _field(text, "CUDA Version") or ""
    blocks = re.split(r"^GPU [0-9A-Fa-f]{8}:", text, flags=re.MULTILINE)[1:]
    gpus = []
    for block in blocks:
        fb = block.split("FB Memory Usage", 1)[1].split("BAR1", 1)[0] if "FB Memory Usage" in block else ""
        gpus.append(
            {
                "name": _field(block, "Product Name"),
                "uuid": _field(block, "GPU UUID"),
                "bus": _field(block, "Bus Id"),
                "total": _mib(_field(fb, "Total")),
                "free": _mib(_field(fb, "Free")),
                "power_w": float(_field(block, "Default Power Limit").split()[0]),
                "fabric": _field(block.split("Fabric", 1)[1], "State") if "\n    Fabric" in block else None,
            }
        )
    return driver, cuda, gpus


def parse_device_query(text: str) -> tuple[list[str], dict[tuple[int, int], bool]]:
    """Compute capability per device and peer access per ordered pair from recorded ``deviceQuery`` output."""
    ccs = re.findall(r"CUDA Capability Major/Minor version number:\s*(\d+\.\d+)", text)
    peers = {
        (int(a), int(b)): ok == "Yes"
        for a, b, ok in re.findall(r"Peer access from .*?\(GPU(\d+)\) -> .*?\(GPU(\d+)\) : (Yes|No)", text)
    }
    return ccs, peers


def parse_topo_nvlinks(text: str, gpus: list[dict[str, Any]]) -> dict[int, list[tuple[int, Optional[int]]]]:
    """Per-GPU NVLink list from ``nvidia-smi topo -m``: ``NV#`` entries give link counts.

    On an NVSwitch board (fabric state "Completed" in ``nvidia-smi -q``) every GPU shows ``NV18`` to
    every other GPU although it has 18 links in all, each ending at a switch; otherwise ``NV#`` is
    # direct links to that GPU.
    """
    rows = [line.split("\t") for line in text.splitlines() if line.startswith("GPU")]
    links: dict[int, list[tuple[int, Optional[int]]]] = {}
    for i, row in enumerate(rows):
        counts = {j: int(cell.strip()[2:]) for j, cell in enumerate(row[1 : len(rows) + 1]) if cell.strip().startswith("NV")}
        if not counts:
            continue
        if gpus[i].get("fabric") == "Completed":
            links[i] = [(pynvml.NVML_NVLINK_DEVICE_TYPE_SWITCH, None)] * max(counts.values())
        else:
            links[i] = [(pynvml.NVML_NVLINK_DEVICE_TYPE_GPU, j) for j, n in counts.items() for _ in range(n)]
    return links


def fake_nvml(machine: str, **kwargs: Any) -> FakeNVML:
    """A FakeNVML serving tests/fixtures/nvidia/<machine>/."""
    folder = FIXTURES / "nvidia" / machine
    driver, cuda, gpus = parse_nvidia_smi_q((folder / "nvidia-smi-q.txt").read_text())
    ccs, peers = parse_device_query((folder / "deviceQuery.txt").read_text())
    for gpu, cc in zip(gpus, ccs):
        gpu["cc"] = cc
    topo = folder / "nvidia-smi-topo-m.txt"
    nvlink = parse_topo_nvlinks(topo.read_text(), gpus) if topo.exists() else {}
    return FakeNVML(gpus, driver, cuda, peers, nvlink, **kwargs)


# --------------------------------------------------------------------------- commands


class FakeRun:
    """``run`` that answers recorded commands; ``sysctl NAME...`` is answered from a recorded dump."""

    def __init__(self, responses: Optional[dict[tuple[str, ...], Optional[str]]] = None, sysctl_dump: str = "") -> None:
        self.responses = dict(responses or {})
        self.sysctl_dump = sysctl_dump
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, cmd: Sequence[str]) -> Optional[str]:
        cmd = tuple(cmd)
        self.calls.append(cmd)
        if cmd in self.responses:
            return self.responses[cmd]
        if cmd[0] == "sysctl" and "-n" not in cmd:
            return self._sysctl(cmd[1:])
        return None  # binary missing

    def _sysctl(self, names: Iterable[str]) -> str:
        """What ``sysctl a b c`` prints: the lines of each name's subtree; unknown names print nothing."""
        lines = self.sysctl_dump.splitlines()
        out = []
        for name in names:
            out += [line for line in lines if line.split(":", 1)[0] == name or line.startswith(name + ".")]
        return "\n".join(out) + ("\n" if out else "")


def which_of(*names: str):
    return lambda binary: f"/usr/bin/{binary}" if binary in names else None


# --------------------------------------------------------------------------- catalog stand-in

_GT = "shared/ground_truth/hardware_specs.json"
STUB_CATALOG = [
    HardwareEntry(id="nvidia-h100-sxm", name="NVIDIA H100 SXM5 80GB", kind="gpu", vendor="nvidia", category="datacenter",
                  aliases=["NVIDIA H100 80GB HBM3"], memory_gib=80, memory_bandwidth_gb_s=3350, fp16_tflops=989,
                  bf16_tflops=989, fp8_tflops=1979, fp8_support=True, int8_support=True, compute_capability="9.0",
                  tdp_w=700, source=_GT),
    HardwareEntry(id="nvidia-rtx-3090", name="NVIDIA GeForce RTX 3090", kind="gpu", vendor="nvidia", category="consumer",
                  memory_gib=24, memory_bandwidth_gb_s=936.2, fp16_tflops=71, bf16_tflops=71, fp8_support=False,
                  compute_capability="8.6", tdp_w=350, source=_GT),
    HardwareEntry(id="amd-mi300x", name="AMD Instinct MI300X", kind="gpu", vendor="amd", category="datacenter",
                  aliases=["AMD Instinct MI300X OAM"], memory_gib=192, memory_bandwidth_gb_s=5300, fp16_tflops=1300,
                  bf16_tflops=1300, fp8_tflops=2610, fp8_support=True, int8_support=True, tdp_w=750, source=_GT),
    HardwareEntry(id="apple-m1", name="Apple M1", kind="apple-silicon", vendor="apple", category="soc",
                  memory_options_gib=[8, 16], memory_bandwidth_gb_s=68.25, price_usd=999, source=_GT),
    HardwareEntry(id="apple-m3-max", name="Apple M3 Max", kind="apple-silicon", vendor="apple", category="soc",
                  memory_options_gib=[36, 48, 64, 96, 128], memory_bandwidth_gb_s=400, source=_GT),
    HardwareEntry(id="apple-m4-max", name="Apple M4 Max", kind="apple-silicon", vendor="apple", category="soc",
                  memory_options_gib=[36, 48, 64, 128], memory_bandwidth_gb_s=546, price_usd=3199, source=_GT),
]


class StubCatalog:
    """``match_accelerator`` with the interface of sizer.catalog, over a handful of ground-truth entries."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, name: str, *, vendor: Optional[str] = None, memory_bytes: Optional[int] = None,
                 gpu_cores: Optional[int] = None) -> Optional[HardwareEntry]:
        self.calls.append({"name": name, "vendor": vendor, "memory_bytes": memory_bytes, "gpu_cores": gpu_cores})
        for entry in STUB_CATALOG:
            names = {slugify(entry.name), *(slugify(a) for a in entry.aliases)}
            if slugify(name) in names and (vendor is None or vendor == entry.vendor):
                return entry
        return None


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def catalog() -> StubCatalog:
    return StubCatalog()


def linux_probe(root: Path, **kwargs: Any) -> Probe:
    """A Linux probe reading ``root`` with no commands, no binaries and the dev VM's RAM, unless overridden."""
    defaults: dict[str, Any] = dict(
        root=root, system="Linux", machine="x86_64", release="6.8.0", run=FakeRun(), which=which_of(),
        hostname=lambda: "fixture-host", cpu_count=lambda logical: None, virtual_memory=lambda: DEV_VM_RAM,
        cpuinfo_fallback=None, match_accelerator=StubCatalog(),
    )
    defaults.update(kwargs)
    return Probe(**defaults)


def mac_probe(folder: str, *, responses: Optional[dict] = None, **kwargs: Any) -> Probe:
    """A macOS arm64 probe whose sysctl answers from every ``sysctl-*.txt`` in tests/fixtures/apple/<folder>/."""
    base = FIXTURES / "apple" / folder
    dump = "".join(p.read_text() for p in sorted(base.glob("sysctl-*.txt")))
    defaults: dict[str, Any] = dict(
        root=base, system="Darwin", machine="arm64", release="24.0.0", run=FakeRun(responses or {}, dump),
        which=which_of(), hostname=lambda: "a-mac", cpu_count=lambda logical: None,
        virtual_memory=lambda: SimpleNamespace(total=int(dump.split("hw.memsize: ")[1].split()[0]), available=0),
        cpuinfo_fallback=None, match_accelerator=StubCatalog(),
    )
    defaults.update(kwargs)
    return Probe(**defaults)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def make_nvml():
    return fake_nvml


@pytest.fixture
def make_linux_probe():
    return linux_probe


@pytest.fixture
def make_mac_probe():
    return mac_probe


@pytest.fixture
def make_run():
    return FakeRun


@pytest.fixture
def which():
    return which_of
