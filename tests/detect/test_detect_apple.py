"""Apple Silicon detection, replayed from recorded sysctl, ioreg and system_profiler output."""

from __future__ import annotations

import pytest

from sizer.detect.apple import default_working_set_bytes, detect_apple, read_sysctl
from sizer.detect.cpu import detect_cpu

MIB = 1 << 20
GIB = 1 << 30
IOREG = ("ioreg", "-rc", "AGXAccelerator", "-d", "1")
SYSTEM_PROFILER = ("system_profiler", "SPDisplaysDataType", "-json")


def apple(probe):
    return detect_apple(probe, read_sysctl(probe))


@pytest.fixture
def m1(make_mac_probe, fixtures):
    profile = (fixtures / "apple/m1-macbook-air-16gb/system_profiler-SPDisplaysDataType.json").read_text()
    return make_mac_probe("m1-macbook-air-16gb", responses={SYSTEM_PROFILER: profile})


@pytest.fixture
def m4_max(make_mac_probe, fixtures):
    ioreg = (fixtures / "apple/m4-max-16c-64gb/ioreg-AGXAccelerator.txt").read_text()
    return make_mac_probe("m4-max-16c-64gb", responses={IOREG: ioreg})


# --------------------------------------------------------------------------- M1 (MacBook Air, 16 GB)


def test_m1_gpu_is_unified_memory_named_by_the_cpu_brand(m1):
    [gpu], _ = apple(m1)
    assert (gpu.vendor, gpu.name, gpu.unified_memory) == ("apple", "Apple M1", True)
    assert gpu.memory_total_bytes == 16 * GIB


def test_m1_gpu_core_count_falls_back_to_system_profiler_when_ioreg_says_nothing(m1):
    [gpu], _ = apple(m1)
    assert gpu.gpu_cores == 7
    assert m1.run.calls[-2:] == [IOREG, SYSTEM_PROFILER]


def test_m1_without_iogpu_sysctl_gets_the_default_two_thirds_working_set(m1):
    [gpu], warnings = apple(m1)
    assert round(gpu.working_set_limit_bytes / MIB, 2) == 10922.67  # llama-cpp-python#687, M1 16 GB
    assert warnings == [
        "Apple: GPU working-set limit estimated as 2/3 of RAM (measured at 16 and 32 GiB): 10.7 GiB "
        "(iogpu.wired_limit_mb is not available); Metal's recommendedMaxWorkingSetSize is the exact value"
    ]


def test_m1_cpu_has_neon_fp16_and_dotprod_but_not_i8mm_or_bf16(m1):
    cpu, warnings = detect_cpu(m1, sysctl=read_sysctl(m1))
    assert cpu.features == ["neon", "fp16", "dotprod"]
    assert (cpu.brand, cpu.architecture, cpu.physical_cores, cpu.logical_cores) == ("Apple M1", "arm64", 8, 8)
    assert warnings == []


# --------------------------------------------------------------------------- M4 Max (16-core CPU, 64 GB)


def test_m4_max_gpu_core_count_comes_from_ioreg_without_running_system_profiler(m4_max):
    [gpu], _ = apple(m4_max)
    assert gpu.gpu_cores == 40
    assert SYSTEM_PROFILER not in m4_max.run.calls


def test_m4_max_default_working_set_is_three_quarters_of_64_gib(m4_max):
    [gpu], _ = apple(m4_max)
    assert gpu.memory_total_bytes == 64 * GIB
    assert gpu.working_set_limit_bytes == 48 * GIB


def test_m4_max_cpu_reports_sme_and_core_counts(m4_max):
    cpu, _ = detect_cpu(m4_max, sysctl=read_sysctl(m4_max))
    assert cpu.features == ["neon", "fp16", "dotprod", "i8mm", "bf16", "sme", "sme2"]
    assert (cpu.brand, cpu.physical_cores, cpu.logical_cores) == ("Apple M4 Max", 16, 16)


def test_a_set_wired_limit_replaces_the_default_working_set(make_mac_probe):
    # 26000 MiB is the value set on a 32 GB M1 Max in Andyyyy64/whichllm#152; Metal follows it exactly.
    probe = make_mac_probe("m4-max-16c-64gb")
    probe.run.sysctl_dump += "iogpu.wired_limit_mb: 26000\n"
    [gpu], warnings = apple(probe)
    assert gpu.working_set_limit_bytes == 26000 * MIB
    assert warnings == []


def test_a_zero_wired_limit_means_the_macos_default(make_mac_probe):
    probe = make_mac_probe("m4-max-16c-64gb")
    probe.run.sysctl_dump += "iogpu.wired_limit_mb: 0\n"
    [gpu], warnings = apple(probe)
    assert gpu.working_set_limit_bytes == 48 * GIB
    assert "(iogpu.wired_limit_mb is 0 (the default))" in warnings[0]


# --------------------------------------------------------------------------- M3 Max (14-core CPU, 36 GB)


def test_m3_max_without_a_gpu_core_count_says_so_and_keeps_the_rest(make_mac_probe):
    probe = make_mac_probe("m3-max-14c-36gb")  # neither ioreg nor system_profiler answers
    [gpu], _ = apple(probe)
    assert gpu.gpu_cores is None
    assert gpu.unknown == ["gpu_cores: neither ioreg (gpu-core-count) nor system_profiler (sppci_cores) reported it"]
    assert (gpu.name, gpu.memory_total_bytes) == ("Apple M3 Max", 36 * GIB)
    assert gpu.working_set_limit_bytes == int(36 * GIB * 2 / 3)


def test_m3_max_cpu_has_i8mm_and_bf16_but_no_sme(make_mac_probe):
    probe = make_mac_probe("m3-max-14c-36gb")
    cpu, _ = detect_cpu(probe, sysctl=read_sysctl(probe))
    assert cpu.features == ["neon", "fp16", "dotprod", "i8mm", "bf16"]
    assert (cpu.physical_cores, cpu.logical_cores) == (14, 14)


# --------------------------------------------------------------------------- the default rule


@pytest.mark.parametrize(
    ("ram_gib", "expected"),
    [
        (16, 10922.67 * MIB),  # abetlen/llama-cpp-python#687
        (32, 21845.34 * MIB),  # ggml-org/llama.cpp#2011, ollama/ollama#434
        (64, 49152 * MIB),  # ggml-org/llama.cpp#1870 ("around 49 GB")
        (96, 73728.00 * MIB),  # ggml-org/llama.cpp#3213
        (128, 107.52 * GIB),  # antirez/ds4#893, macOS 26
    ],
)
def test_default_working_set_matches_measured_recommended_max_working_set_size(ram_gib, expected):
    limit, _ = default_working_set_bytes(ram_gib * GIB)
    assert limit == pytest.approx(expected, rel=2e-4)


def test_sysctl_that_reports_nothing_gives_no_apple_gpu(make_mac_probe):
    probe = make_mac_probe("m1-macbook-air-16gb")
    probe.run.sysctl_dump = ""
    assert apple(probe) == ([], [])
