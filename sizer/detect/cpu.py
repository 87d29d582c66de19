"""The host CPU: brand, architecture, core counts and the ISA features that matter for inference.

Linux reads ``/proc/cpuinfo`` (one file, no subprocess); macOS reads the ``sysctl`` values that
:func:`sizer.detect.apple.read_sysctl` collects once per detection. py-cpuinfo is the last resort
only: ``cpuinfo.get_cpu_info()`` took 1.1 s on the development machine (it parses in a child
process), against well under a millisecond for ``/proc/cpuinfo``.
"""

from __future__ import annotations

from typing import Mapping, Optional

from sizer.types import Cpu

from ._probe import Probe

# --------------------------------------------------------------------------- feature tables

FEATURE_ORDER = (
    "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx", "amx_bf16", "amx_int8", "amx_tile",
    "neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2", "sme", "sme2",
)
"""Every feature sizer reports, in the order it reports them."""

X86_LINUX_FLAGS: Mapping[str, str] = {
    # /proc/cpuinfo "flags" name -> sizer feature (names as the kernel prints them,
    # arch/x86/include/asm/cpufeatures.h)
    "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx_vnni": "avx_vnni",
    "avx512f": "avx512f", "avx512_vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16",
    "avx512_fp16": "avx512_fp16", "amx_bf16": "amx_bf16", "amx_int8": "amx_int8", "amx_tile": "amx_tile",
}

ARM_LINUX_FLAGS: Mapping[str, str] = {
    # /proc/cpuinfo "Features" name (arch/arm64/kernel/cpuinfo.c hwcap_str) -> sizer feature
    "asimd": "neon", "asimdhp": "fp16", "asimddp": "dotprod", "i8mm": "i8mm", "bf16": "bf16",
    "sve": "sve", "sve2": "sve2", "sme": "sme", "sme2": "sme2",
}

DARWIN_SYSCTL_FLAGS: Mapping[str, str] = {
    # sysctl name (value 1 = present) -> sizer feature. Apple silicon: hw.optional.arm.FEAT_*
    # (macOS 12+); Intel Macs: hw.optional.avx*_0 etc.
    "hw.optional.neon": "neon", "hw.optional.AdvSIMD": "neon", "hw.optional.arm.AdvSIMD": "neon",
    "hw.optional.neon_fp16": "fp16", "hw.optional.arm.FEAT_FP16": "fp16",
    "hw.optional.arm.FEAT_DotProd": "dotprod", "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.arm.FEAT_BF16": "bf16", "hw.optional.arm.FEAT_SME": "sme", "hw.optional.arm.FEAT_SME2": "sme2",
    "hw.optional.avx1_0": "avx", "hw.optional.avx2_0": "avx2", "hw.optional.fma": "fma",
    "hw.optional.f16c": "f16c", "hw.optional.avx512f": "avx512f", "hw.optional.avx512vnni": "avx512_vnni",
}

ARM_IMPLEMENTERS: Mapping[int, str] = {
    # "CPU implementer" -> vendor, from util-linux sys-utils/lscpu-arm.c
    0x41: "ARM", 0x42: "Broadcom", 0x43: "Cavium", 0x48: "HiSilicon", 0x4E: "NVIDIA", 0x51: "Qualcomm",
    0x61: "Apple", 0x6D: "Microsoft", 0xC0: "Ampere",
}

ARM_LTD_PARTS: Mapping[int, str] = {
    # "CPU part" of implementer 0x41 -> core name, from util-linux sys-utils/lscpu-arm.c (server and
    # recent client cores only; anything else is reported by number)
    0xD0C: "Neoverse-N1", 0xD40: "Neoverse-V1", 0xD49: "Neoverse-N2", 0xD4F: "Neoverse-V2",
    0xD83: "Neoverse-V3AE", 0xD84: "Neoverse-V3", 0xD8E: "Neoverse-N3",
    0xD0B: "Cortex-A76", 0xD41: "Cortex-A78", 0xD47: "Cortex-A710", 0xD48: "Cortex-X2",
    0xD4D: "Cortex-A715", 0xD4E: "Cortex-X3", 0xD81: "Cortex-A720", 0xD82: "Cortex-X4", 0xD85: "Cortex-X925",
}

ARCH_ALIASES: Mapping[str, str] = {
    "x86_64": "x86_64", "amd64": "x86_64", "i386": "x86", "i686": "x86",
    "aarch64": "arm64", "arm64": "arm64", "armv8l": "arm64", "riscv64": "riscv64", "ppc64le": "ppc64le",
}


def ordered(features: set[str]) -> list[str]:
    """Features in :data:`FEATURE_ORDER`; ``amx`` is added when any AMX unit is present."""
    if features & {"amx_bf16", "amx_int8", "amx_tile"}:
        features = features | {"amx"}
    return [f for f in FEATURE_ORDER if f in features]


def normalize_arch(machine: str) -> Optional[str]:
    return ARCH_ALIASES.get(machine.lower(), machine.lower() or None) if machine else None


# --------------------------------------------------------------------------- Linux


def parse_proc_cpuinfo(text: str) -> dict[str, str]:
    """Fields of the first processor block of ``/proc/cpuinfo`` (all blocks describe the same CPU model)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _arm_brand(fields: Mapping[str, str]) -> Optional[str]:
    try:
        implementer = int(fields["CPU implementer"], 16)
    except (KeyError, ValueError):
        return None
    vendor = ARM_IMPLEMENTERS.get(implementer, f"implementer {implementer:#x}")
    part_text = fields.get("CPU part", "")
    try:
        part = int(part_text, 16)
    except ValueError:
        return vendor
    if implementer == 0x41 and part in ARM_LTD_PARTS:
        return f"{vendor} {ARM_LTD_PARTS[part]}"
    return f"{vendor} (part {part:#05x})"


def features_from_linux(fields: Mapping[str, str]) -> list[str]:
    found: set[str] = set()
    for flag in fields.get("flags", "").split():
        if flag in X86_LINUX_FLAGS:
            found.add(X86_LINUX_FLAGS[flag])
    for flag in fields.get("Features", "").split():
        if flag in ARM_LINUX_FLAGS:
            found.add(ARM_LINUX_FLAGS[flag])
    return ordered(found)


def features_from_sysctl(sysctl: Mapping[str, str], arch: Optional[str]) -> list[str]:
    found = {feature for name, feature in DARWIN_SYSCTL_FLAGS.items() if sysctl.get(name, "").strip() == "1"}
    if arch == "arm64":
        found.add("neon")  # Advanced SIMD is mandatory in AArch64
    return ordered(found)


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- entry point


def detect_cpu(probe: Probe, *, sysctl: Optional[Mapping[str, str]] = None) -> tuple[Cpu, list[str]]:
    """The CPU as far as it can be read, and what could not be (as warnings)."""
    warnings: list[str] = []
    arch = normalize_arch(probe.machine)
    brand: Optional[str] = None
    features: list[str] = []
    physical = logical = None

    if probe.system == "Darwin" and sysctl is not None:
        brand = sysctl.get("machdep.cpu.brand_string") or None
        features = features_from_sysctl(sysctl, arch)
        physical = _int(sysctl.get("hw.physicalcpu"))
        logical = _int(sysctl.get("hw.logicalcpu"))
    elif probe.system == "Linux":
        text = probe.read("/proc/cpuinfo")
        if text:
            fields = parse_proc_cpuinfo(text)
            brand = fields.get("model name") or fields.get("Hardware") or _arm_brand(fields)
            features = features_from_linux(fields)
        else:
            warnings.append("CPU: /proc/cpuinfo could not be read; ISA features unknown")

    if physical is None or logical is None:
        try:
            physical = physical if physical is not None else probe.cpu_count(False)
            logical = logical if logical is not None else probe.cpu_count(True)
        except Exception as err:  # psutil missing or failing is a warning, never a crash
            warnings.append(f"CPU: core counts unavailable ({type(err).__name__}: {err})")

    if (brand is None or (not features and probe.system not in ("Linux", "Darwin"))) and probe.cpuinfo_fallback:
        try:
            info = probe.cpuinfo_fallback()
        except Exception as err:
            warnings.append(f"CPU: py-cpuinfo failed ({type(err).__name__}: {err})")
        else:
            brand = brand or info.get("brand_raw") or None
            if not features:
                flags = " ".join(info.get("flags", []))
                features = features_from_linux({"flags": flags, "Features": flags})

    if brand is None:
        warnings.append("CPU: the processor brand could not be read")
    return Cpu(brand=brand, architecture=arch, physical_cores=physical, logical_cores=logical, features=features), warnings
