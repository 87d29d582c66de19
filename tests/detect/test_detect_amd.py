"""AMD detection through rocm-smi and amd-smi."""

from __future__ import annotations

import json

import pytest

from sizer.detect.amd import (
    AMD_SMI_METRIC,
    AMD_SMI_STATIC,
    ROCM_SMI,
    detect_amd,
    detect_amd_gpus,
    parse_amd_smi,
    parse_rocm_smi,
)

MIB = 1 << 20


@pytest.fixture
def mi300x_rocm_smi(make_linux_probe, make_run, which, fixtures, tmp_path):
    folder = fixtures / "amd/mi300x-4x"
    text = (folder / "rocm-smi-showproductname-showbus.txt").read_text() + (folder / "rocm-smi-showmeminfo-vram.txt").read_text()
    return make_linux_probe(tmp_path, which=which("rocm-smi"), run=make_run({tuple(ROCM_SMI): text}))


@pytest.fixture
def mi300x_amd_smi(make_linux_probe, make_run, which, fixtures, tmp_path):
    folder = fixtures / "amd/mi300x-4x-amd-smi-constructed"
    run = make_run({
        tuple(AMD_SMI_STATIC): (folder / "amd-smi-static.json").read_text(),
        tuple(AMD_SMI_METRIC): (folder / "amd-smi-metric.json").read_text(),
    })
    return make_linux_probe(tmp_path, which=which("amd-smi"), run=run)


def test_mi300x_box_reports_four_gpus_through_rocm_smi(mi300x_rocm_smi):
    gpus, warnings = detect_amd(mi300x_rocm_smi)
    assert warnings == []
    assert [(g.index, g.vendor, g.name) for g in gpus] == [(i, "amd", "AMD Instinct MI300X OAM") for i in range(4)]
    assert [g.pci_bus_id for g in gpus] == ["0000:26:00.0", "0000:46:00.0", "0000:65:00.0", "0000:85:00.0"]


def test_mi300x_vram_from_rocm_smi_is_in_bytes(mi300x_rocm_smi):
    gpu = detect_amd(mi300x_rocm_smi)[0][0]
    assert (gpu.memory_total_bytes, gpu.memory_used_bytes) == (206141652992, 297771008)
    assert gpu.memory_free_bytes == 206141652992 - 297771008
    assert gpu.memory_total_bytes == 196592 * MIB
    assert gpu.unknown == []


def test_mi300x_through_amd_smi_json_reads_mib_sizes_and_the_gfx_target(mi300x_amd_smi):
    gpus, warnings = detect_amd_gpus(mi300x_amd_smi)
    assert warnings == []
    assert [(g.name, g.gfx_target, g.memory_total_bytes, g.memory_used_bytes) for g in gpus] == [
        ("AMD Instinct MI300X", "gfx942", 196592 * MIB, 284 * MIB)
    ] * 4


def test_amd_smi_is_preferred_over_rocm_smi(mi300x_amd_smi, which):
    mi300x_amd_smi.which = which("amd-smi", "rocm-smi")
    detect_amd(mi300x_amd_smi)
    assert tuple(ROCM_SMI) not in mi300x_amd_smi.run.calls


def test_amd_smi_static_as_a_list_and_as_gpu_data_both_parse():
    item = {"gpu": 0, "asic": {"market_name": "AMD Radeon RX 7900 XTX", "target_graphics_version": "gfx1100"},
            "vram": {"size": 24560}}
    as_list = parse_amd_smi(json.dumps([item]))
    as_dict = parse_amd_smi(json.dumps({"gpu_data": [item]}))
    assert as_list == as_dict
    assert (as_list[0].memory_total_bytes, as_list[0].gfx_target) == (24560 * MIB, "gfx1100")


def test_rocm_smi_json_cards_are_read_too():
    text = json.dumps({"card0": {"Card Series": "AMD Instinct MI300X", "GFX Version": "gfx942:sramecc+:xnack-",
                                 "VRAM Total Memory (B)": "206141652992", "VRAM Total Used Memory (B)": "297771008"},
                       "system": {"Driver version": "6.7.0"}})
    [gpu] = parse_rocm_smi(text)
    assert (gpu.name, gpu.gfx_target, gpu.memory_total_bytes) == ("AMD Instinct MI300X", "gfx942", 206141652992)


def test_missing_tools_on_a_machine_without_rocm_is_silent(make_linux_probe, tmp_path):
    assert detect_amd(make_linux_probe(tmp_path)) == ([], [])


def test_missing_tools_with_the_rocm_driver_loaded_is_a_warning(make_linux_probe, tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/kfd").write_text("")
    assert detect_amd(make_linux_probe(tmp_path)) == (
        [],
        ["AMD: the ROCm driver is loaded (/dev/kfd) but neither amd-smi nor rocm-smi is installed; AMD GPUs were not detected"],
    )


def test_a_tool_that_prints_nothing_usable_is_a_warning(make_linux_probe, make_run, which, tmp_path):
    probe = make_linux_probe(tmp_path, which=which("amd-smi"), run=make_run({tuple(AMD_SMI_STATIC): "not json"}))
    assert detect_amd(probe) == ([], ["AMD: amd-smi is installed but reported no GPU"])
