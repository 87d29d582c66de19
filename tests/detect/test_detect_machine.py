"""detect_machine end to end: recorded machines through the probe, and this machine for real."""

from __future__ import annotations

import time

import pynvml

from sizer.detect import detect_machine
from sizer.types import Machine

GIB = 1 << 30
MIB = 1 << 20


def test_hgx_h100_server_is_one_host_with_eight_catalog_matched_gpus(make_nvml, make_linux_probe, fixtures):
    probe = make_linux_probe(fixtures / "linux/graniterapids", nvml=make_nvml("hgx-h100-8x"))
    machine = detect_machine(probe=probe)
    [host] = machine.hosts
    assert len(host.accelerators) == 8
    assert {a.catalog_id for a in host.accelerators} == {"nvidia-h100-sxm"}
    gpu = host.accelerators[0]
    assert (gpu.memory_bandwidth_gb_s, gpu.fp16_tflops, gpu.fp8_tflops, gpu.fp8_support) == (3350, 989, 1979, True)
    assert gpu.tdp_w == 700.0
    assert gpu.unknown == ["price_usd: not in catalog entry nvidia-h100-sxm"]
    assert machine.warnings == []


def test_catalog_is_asked_with_the_nvml_name_vendor_and_memory(make_nvml, make_linux_probe, catalog, tmp_path):
    detect_machine(probe=make_linux_probe(tmp_path, nvml=make_nvml("rtx3090-2x"), match_accelerator=catalog))
    assert catalog.calls[0] == {"name": "NVIDIA GeForce RTX 3090", "vendor": "nvidia", "memory_bytes": 24576 * MIB,
                                "gpu_cores": None}


def test_rtx3090_workstation_lists_the_figures_its_catalog_entry_lacks(make_nvml, make_linux_probe, tmp_path):
    machine = detect_machine(probe=make_linux_probe(tmp_path, nvml=make_nvml("rtx3090-2x")))
    gpu = machine.hosts[0].accelerators[1]
    assert (gpu.catalog_id, gpu.memory_bandwidth_gb_s, gpu.fp8_support) == ("nvidia-rtx-3090", 936.2, False)
    assert gpu.unknown == [
        "fp8_tflops: not in catalog entry nvidia-rtx-3090",
        "int8_support: not in catalog entry nvidia-rtx-3090",
        "price_usd: not in catalog entry nvidia-rtx-3090",
    ]


def test_a_gpu_the_catalog_does_not_know_keeps_no_catalog_id_and_says_what_is_unknown(make_nvml, make_linux_probe, tmp_path):
    probe = make_linux_probe(tmp_path, nvml=make_nvml("rtx3090-2x"), match_accelerator=lambda *a, **k: None)
    gpu = detect_machine(probe=probe).hosts[0].accelerators[0]
    assert gpu.catalog_id is None
    assert gpu.unknown[0] == "catalog_id: no catalog entry matches 'NVIDIA GeForce RTX 3090'"
    assert "memory_bandwidth_gb_s: not in catalog" in gpu.unknown


def test_an_unreadable_catalog_is_a_warning(make_nvml, make_linux_probe, tmp_path):
    def broken(*args, **kwargs):
        raise FileNotFoundError("data/hardware.json")

    machine = detect_machine(probe=make_linux_probe(tmp_path, nvml=make_nvml("rtx3090-2x"), match_accelerator=broken))
    assert "catalog: accelerators were not matched to the hardware catalog (FileNotFoundError: data/hardware.json)" in (
        machine.warnings
    )
    assert machine.hosts[0].accelerators[0].unknown == ["catalog_id: the hardware catalog could not be read"]


def test_machine_with_nvml_driver_not_loaded_still_reports_cpu_and_memory(make_nvml, make_linux_probe, fixtures):
    nvml = make_nvml("hgx-h100-8x", init_error=pynvml.NVMLError_DriverNotLoaded())
    machine = detect_machine(probe=make_linux_probe(fixtures / "linux/graniterapids", nvml=nvml))
    host = machine.hosts[0]
    assert host.accelerators == []
    assert host.cpu.brand == "Intel(R) Xeon(R) 6972P"
    assert machine.warnings == ["NVIDIA: NVML could not start (Driver Not Loaded); NVIDIA GPUs were not detected"]


def test_m4_max_mac_is_one_unified_memory_gpu_matched_to_the_catalog(make_mac_probe, fixtures, make_nvml):
    ioreg = (fixtures / "apple/m4-max-16c-64gb/ioreg-AGXAccelerator.txt").read_text()
    nvml = make_nvml("rtx3090-2x")
    probe = make_mac_probe("m4-max-16c-64gb", responses={("ioreg", "-rc", "AGXAccelerator", "-d", "1"): ioreg}, nvml=nvml)
    machine = detect_machine(probe=probe)
    [host] = machine.hosts
    [gpu] = host.accelerators
    assert (gpu.vendor, gpu.catalog_id, gpu.unified_memory, gpu.gpu_cores) == ("apple", "apple-m4-max", True, 40)
    assert (gpu.memory_bandwidth_gb_s, gpu.price_usd, gpu.working_set_limit_bytes) == (546, 3199, 48 * GIB)
    assert host.cpu.brand == "Apple M4 Max"
    assert host.memory.total_bytes == 64 * GIB
    assert nvml.init_calls == 0  # no NVIDIA driver exists for Apple Silicon macOS
    assert len(machine.warnings) == 1 and machine.warnings[0].startswith("Apple: GPU working-set limit estimated")


def test_m1_mac_machine_has_the_m1_catalog_entry(make_mac_probe, fixtures):
    profile = (fixtures / "apple/m1-macbook-air-16gb/system_profiler-SPDisplaysDataType.json").read_text()
    probe = make_mac_probe("m1-macbook-air-16gb", responses={("system_profiler", "SPDisplaysDataType", "-json"): profile})
    gpu = detect_machine(probe=probe).hosts[0].accelerators[0]
    assert (gpu.catalog_id, gpu.gpu_cores, gpu.memory_bandwidth_gb_s) == ("apple-m1", 7, 68.25)


def test_cgroup_v1_container_has_a_cpu_quota_and_a_memory_limit(make_linux_probe, fixtures):
    machine = detect_machine(probe=make_linux_probe(fixtures / "cgroup/v1-ecs-docker-1g/root"))
    host = machine.hosts[0]
    assert host.in_container
    assert host.cpu.cpu_quota == 0.2
    assert host.memory.usable_bytes == GIB
    assert host.accelerators == []
    assert machine.warnings == ["CPU: /proc/cpuinfo could not be read; ISA features unknown",
                                "CPU: the processor brand could not be read"]


def test_cgroup_v2_container_is_cpu_only_with_256_mib_usable(make_linux_probe, fixtures):
    host = detect_machine(probe=make_linux_probe(fixtures / "cgroup/v2-docker-256m/root")).hosts[0]
    assert (host.in_container, host.cpu.cpu_quota, host.memory.usable_bytes) == (True, 0.5, 256 * MIB)


def test_mi300x_box_is_matched_to_the_catalog(make_linux_probe, make_run, which, fixtures, tmp_path):
    folder = fixtures / "amd/mi300x-4x"
    text = (folder / "rocm-smi-showproductname-showbus.txt").read_text() + (folder / "rocm-smi-showmeminfo-vram.txt").read_text()
    run = make_run({("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showbus"): text})
    machine = detect_machine(probe=make_linux_probe(tmp_path, which=which("rocm-smi"), run=run))
    gpus = machine.hosts[0].accelerators
    assert [(g.vendor, g.catalog_id) for g in gpus] == [("amd", "amd-mi300x")] * 4
    assert gpus[0].memory_bandwidth_gb_s == 5300


def test_a_detector_that_crashes_becomes_a_warning(make_linux_probe, tmp_path):
    def exploding_which(name):
        raise RuntimeError("PATH is broken")

    machine = detect_machine(probe=make_linux_probe(tmp_path, which=exploding_which))
    assert "AMD: detection failed unexpectedly (RuntimeError: PATH is broken)" in machine.warnings


def test_detected_machine_round_trips_through_json(make_nvml, make_linux_probe, fixtures):
    machine = detect_machine(probe=make_linux_probe(fixtures / "linux/graniterapids", nvml=make_nvml("hgx-h100-8x")))
    assert Machine.model_validate_json(machine.model_dump_json()) == machine


def test_detect_machine_on_this_machine_returns_a_valid_machine_quickly():
    detect_machine()  # first call pays for imports (psutil); time the next one
    start = time.perf_counter()
    machine = detect_machine()
    elapsed = time.perf_counter() - start
    assert isinstance(machine, Machine)
    [host] = machine.hosts
    assert host.memory.total_bytes and host.memory.total_bytes > 0
    assert host.cpu.logical_cores and host.cpu.logical_cores >= 1
    assert Machine.model_validate(machine.model_dump()) == machine
    assert elapsed < 0.5, f"detect_machine took {elapsed * 1000:.0f} ms"


def test_every_recorded_device_name_finds_an_entry_in_the_real_catalog(make_nvml, make_mac_probe, make_linux_probe,
                                                                     make_run, which, fixtures, tmp_path):
    folder = fixtures / "amd/mi300x-4x"
    rocm = (folder / "rocm-smi-showproductname-showbus.txt").read_text() + (folder / "rocm-smi-showmeminfo-vram.txt").read_text()
    ioreg = (fixtures / "apple/m4-max-16c-64gb/ioreg-AGXAccelerator.txt").read_text()
    profile = (fixtures / "apple/m1-macbook-air-16gb/system_profiler-SPDisplaysDataType.json").read_text()
    probes = [
        make_linux_probe(tmp_path, nvml=make_nvml("hgx-h100-8x"), match_accelerator=None),
        make_linux_probe(tmp_path, nvml=make_nvml("rtx3090-2x"), match_accelerator=None),
        make_linux_probe(tmp_path, which=which("rocm-smi"), match_accelerator=None,
                         run=make_run({("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showbus"): rocm})),
        make_mac_probe("m4-max-16c-64gb", responses={("ioreg", "-rc", "AGXAccelerator", "-d", "1"): ioreg},
                       match_accelerator=None),
        make_mac_probe("m1-macbook-air-16gb", responses={("system_profiler", "SPDisplaysDataType", "-json"): profile},
                       match_accelerator=None),
        make_mac_probe("m3-max-14c-36gb", match_accelerator=None),
    ]
    for probe in probes:
        for gpu in detect_machine(probe=probe).hosts[0].accelerators:
            assert gpu.catalog_id is not None, gpu.name
            assert gpu.memory_bandwidth_gb_s is not None, gpu.name
