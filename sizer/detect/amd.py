"""AMD GPUs through ``amd-smi`` (ROCm 6+) or, failing that, the older ``rocm-smi``.

No tool on the PATH means no AMD GPUs and no warning — unless ``/dev/kfd`` (the ROCm compute
driver) exists, when the missing tools are worth a warning. The JSON of both tools changed across
ROCm releases (``amd-smi static --json`` is a list in ROCm 6.0–6.2 and ``{"gpu_data": [...]}``
later; sizes are ``{"value": N, "unit": "MB"}`` or a bare number), so every lookup is defensive.

amd-smi's "MB" are MiB: an MI300X reports 196592 MB, and rocm-smi reports the same board as
206141652992 bytes = 196592 × 2^20 (ROCm/ROCm#4750).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from sizer.types import Accelerator

from ._probe import Probe

UNIT_BYTES = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30}

AMD_SMI_STATIC = ["amd-smi", "static", "--asic", "--bus", "--vram", "--json"]
AMD_SMI_METRIC = ["amd-smi", "metric", "--mem-usage", "--json"]
ROCM_SMI = ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showbus"]
"""Plain text on purpose: its ``GPU[0] : key: value`` lines are the same in recordings from ROCm 4 (MI100)
to ROCm 6 (MI300X), while the ``--json`` keys changed case between releases ("Card series" / "Card Series")."""


@dataclass
class AmdGpu:
    """One AMD GPU as the tools describe it."""

    index: int
    name: Optional[str] = None
    gfx_target: Optional[str] = None
    memory_total_bytes: Optional[int] = None
    memory_used_bytes: Optional[int] = None
    pci_bus_id: Optional[str] = None
    unknown: list[str] = field(default_factory=list)

    def accelerator(self) -> Accelerator:
        free = None
        if self.memory_total_bytes is not None and self.memory_used_bytes is not None:
            free = max(0, self.memory_total_bytes - self.memory_used_bytes)
        # Accelerator has no gfx_target field yet: the target stays on AmdGpu (detect_amd_gpus).
        return Accelerator(
            index=self.index,
            vendor="amd",
            name=self.name or f"AMD GPU {self.index}",
            memory_total_bytes=self.memory_total_bytes,
            memory_used_bytes=self.memory_used_bytes,
            memory_free_bytes=free,
            pci_bus_id=self.pci_bus_id,
            unknown=list(self.unknown),
        )


def _bytes(value: Any, default_unit: str = "MB") -> Optional[int]:
    """``{"value": 196592, "unit": "MB"}``, ``"196592 MB"`` or ``196592`` (in ``default_unit``) as bytes."""
    unit = default_unit
    if isinstance(value, dict):
        unit = str(value.get("unit") or default_unit)
        value = value.get("value")
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", value)
        if not match:
            return None
        value, unit = match.group(1), match.group(2) or unit
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    factor = UNIT_BYTES.get(unit.upper())
    return int(number * factor) if factor else None


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    return None if text in ("", "N/A", "n/a") else text


def _gfx(value: Any) -> Optional[str]:
    """``gfx942:sramecc+:xnack-`` and ``gfx942`` both give ``gfx942``."""
    text = _text(value)
    return text.split(":", 1)[0].lower() if text and text.lower().startswith("gfx") else None


def _gpu_list(data: Any) -> list[dict]:
    if isinstance(data, dict):
        data = data.get("gpu_data", data.get("gpus", [data] if "gpu" in data else []))
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def parse_amd_smi(static_text: str, metric_text: Optional[str] = None) -> list[AmdGpu]:
    """GPUs from ``amd-smi static --json`` and, for used memory, ``amd-smi metric --mem-usage --json``."""
    try:
        static = _gpu_list(json.loads(static_text))
    except ValueError:
        return []
    used: dict[int, Optional[int]] = {}
    if metric_text:
        try:
            for item in _gpu_list(json.loads(metric_text)):
                usage = item.get("mem_usage") or {}
                used[int(item.get("gpu", -1))] = _bytes(usage.get("used_vram"))
        except (ValueError, TypeError, AttributeError):
            pass
    gpus = []
    for position, item in enumerate(static):
        index = int(item.get("gpu", position))
        asic = item.get("asic") or {}
        vram = item.get("vram") or {}
        bus = item.get("bus") or {}
        gpu = AmdGpu(
            index=index,
            name=_text(asic.get("market_name")),
            gfx_target=_gfx(asic.get("target_graphics_version")),
            memory_total_bytes=_bytes(vram.get("size", vram.get("vram_size"))),
            memory_used_bytes=used.get(index),
            pci_bus_id=_text(bus.get("bdf")),
        )
        if gpu.memory_total_bytes is None:
            gpu.unknown.append("memory_total_bytes: amd-smi static reported no VRAM size")
        if gpu.memory_used_bytes is None:
            gpu.unknown.append("memory_used_bytes: amd-smi metric reported no VRAM usage")
        gpus.append(gpu)
    return gpus


ROCM_NAME_KEYS = ("Card Series", "Card series", "Device Name", "Card Model", "Card model")
ROCM_TEXT_LINE = re.compile(r"^GPU\[(\d+)\]\s*:\s*(.+?):\s*(.*)$")


def _rocm_cards(text: str) -> dict[int, dict[str, str]]:
    """``rocm-smi`` output as {card index: {key: value}}: its ``GPU[0] : key: value`` text, or its ``--json``."""
    try:
        data = json.loads(text)
    except ValueError:
        cards: dict[int, dict[str, str]] = {}
        for line in text.splitlines():
            match = ROCM_TEXT_LINE.match(line.strip())
            if match:
                cards.setdefault(int(match.group(1)), {})[match.group(2).strip()] = match.group(3).strip()
        return cards
    if isinstance(data, dict) and isinstance(data.get("system"), dict) and not any(k.startswith("card") for k in data):
        data = data["system"]
    cards = {}
    for key, value in (data.items() if isinstance(data, dict) else []):
        match = re.fullmatch(r"card(\d+)", key)
        if match and isinstance(value, dict):
            cards[int(match.group(1))] = {str(k).strip(): str(v) for k, v in value.items()}
    return cards


def parse_rocm_smi(text: str) -> list[AmdGpu]:
    """GPUs from ``rocm-smi --showproductname --showmeminfo vram --showbus`` (text, or the same with ``--json``)."""
    gpus = []
    for index, card in sorted(_rocm_cards(text).items()):
        name = next((_text(card[k]) for k in ROCM_NAME_KEYS if _text(card.get(k))), None)
        gpu = AmdGpu(
            index=index,
            name=name,
            gfx_target=_gfx(card.get("GFX Version")),
            memory_total_bytes=_bytes(card.get("VRAM Total Memory (B)"), "B"),
            memory_used_bytes=_bytes(card.get("VRAM Total Used Memory (B)"), "B"),
            pci_bus_id=_text(card.get("PCI Bus")),
        )
        for attr, what in (("memory_total_bytes", "VRAM Total Memory (B)"), ("memory_used_bytes", "VRAM Total Used Memory (B)")):
            if getattr(gpu, attr) is None:
                gpu.unknown.append(f"{attr}: rocm-smi reported no '{what}'")
        gpus.append(gpu)
    return gpus


def detect_amd_gpus(probe: Probe) -> tuple[list[AmdGpu], list[str]]:
    """AMD GPUs (with their gfx targets) from whichever tool is installed; warnings when none answers."""
    if probe.which("amd-smi"):
        static = probe.run(AMD_SMI_STATIC)
        gpus = parse_amd_smi(static, probe.run(AMD_SMI_METRIC)) if static else []
        if gpus:
            return gpus, []
    if probe.which("rocm-smi"):
        gpus = parse_rocm_smi(probe.run(ROCM_SMI) or "")
        if gpus:
            return gpus, []
        return [], ["AMD: rocm-smi is installed but reported no GPU"]
    if probe.which("amd-smi"):
        return [], ["AMD: amd-smi is installed but reported no GPU"]
    if probe.exists("/dev/kfd"):
        return [], ["AMD: the ROCm driver is loaded (/dev/kfd) but neither amd-smi nor rocm-smi is installed; "
                    "AMD GPUs were not detected"]
    return [], []


def detect_amd(probe: Probe) -> tuple[list[Accelerator], list[str]]:
    """AMD GPUs as Accelerator records; warnings when a driver is present but no tool answers."""
    gpus, warnings = detect_amd_gpus(probe)
    return [g.accelerator() for g in gpus], warnings
