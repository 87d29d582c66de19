"""NVIDIA detection through NVML, replayed from recorded nvidia-smi / deviceQuery / topo output."""

from __future__ import annotations

import pynvml
import pytest

from sizer.detect import nvidia
from sizer.detect.nvidia import cuda_version_text, detect_nvidia

MIB = 1 << 20


@pytest.fixture
def h100(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("hgx-h100-8x")
    gpus, warnings = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    return fake, gpus, warnings


@pytest.fixture
def rtx3090(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("rtx3090-2x")
    gpus, warnings = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    return fake, gpus, warnings


def nvidia_pci_root(tmp_path, address="0000:41:00.0"):
    device = tmp_path / "sys/bus/pci/devices" / address
    device.mkdir(parents=True)
    (device / "vendor").write_text("0x10de\n")
    (device / "class").write_text("0x030000\n")
    return tmp_path


# --------------------------------------------------------------------------- 8x H100 HGX


def test_hgx_h100_reports_eight_gpus_in_nvml_order(h100):
    _, gpus, warnings = h100
    assert [g.index for g in gpus] == list(range(8))
    assert {g.name for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert warnings == []


def test_hgx_h100_memory_is_what_nvml_reports_in_bytes(h100):
    _, gpus, _ = h100
    assert gpus[0].memory_total_bytes == 81559 * MIB
    assert gpus[0].memory_free_bytes == 81106 * MIB
    assert gpus[0].memory_used_bytes == (81559 - 81106) * MIB


def test_hgx_h100_bus_ids_and_uuids_identify_each_gpu(h100):
    _, gpus, _ = h100
    assert [g.pci_bus_id for g in gpus] == [f"00000000:{b}:00.0" for b in ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")]
    assert gpus[7].uuid == "GPU-33135771-a848-ece1-b61e-489e221d663c"


def test_hgx_h100_compute_capability_power_limit_and_versions(h100):
    _, gpus, _ = h100
    assert {g.compute_capability for g in gpus} == {"9.0"}
    assert {g.tdp_w for g in gpus} == {700.0}
    assert {g.driver_version for g in gpus} == {"565.57.01"}
    assert {g.cuda_version for g in gpus} == {"12.7"}


def test_hgx_h100_gpus_reach_every_other_gpu_over_nvswitch_links(h100):
    _, gpus, _ = h100
    for gpu in gpus:
        assert gpu.nvlink_active_links == 18
        assert gpu.nvlink_peers == [i for i in range(8) if i != gpu.index]


def test_hgx_h100_gpus_have_peer_to_peer_access_to_every_other_gpu(h100):
    _, gpus, _ = h100
    for gpu in gpus:
        assert gpu.p2p_peers == [i for i in range(8) if i != gpu.index]
        assert not any("p2p" in u for u in gpu.unknown)


def test_hgx_h100_leaves_nothing_unknown(h100):
    _, gpus, _ = h100
    assert all(g.unknown == [] for g in gpus)


def test_nvml_is_shut_down_after_detection(h100):
    fake, _, _ = h100
    assert (fake.init_calls, fake.shutdown_calls) == (1, 1)


# --------------------------------------------------------------------------- 2x RTX 3090


def test_rtx3090_workstation_reports_two_24_gib_gpus(rtx3090):
    _, gpus, _ = rtx3090
    assert [(g.name, g.memory_total_bytes) for g in gpus] == [("NVIDIA GeForce RTX 3090", 24576 * MIB)] * 2
    assert [g.pci_bus_id for g in gpus] == ["00000000:41:00.0", "00000000:81:00.0"]
    assert {g.compute_capability for g in gpus} == {"8.6"}
    assert {g.cuda_version for g in gpus} == {"12.6"}


def test_rtx3090_pair_without_nvlink_has_no_link_count_and_no_peers(rtx3090):
    _, gpus, _ = rtx3090
    assert [(g.nvlink_active_links, g.nvlink_peers) for g in gpus] == [(None, []), (None, [])]


def test_rtx3090_pair_reports_no_peer_to_peer_access(rtx3090):
    _, gpus, _ = rtx3090
    assert [g.p2p_peers for g in gpus] == [[], []]


# --------------------------------------------------------------------------- failures


def test_missing_nvml_library_on_a_machine_with_an_nvidia_gpu_is_a_warning(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("rtx3090-2x", init_error=pynvml.NVMLError_LibraryNotFound())
    gpus, warnings = detect_nvidia(make_linux_probe(nvidia_pci_root(tmp_path), nvml=fake))
    assert gpus == []
    assert len(warnings) == 1
    assert "NVML library (libnvidia-ml) was not found although NVIDIA devices are on the PCI bus (0000:41:00.0)" in warnings[0]


def test_missing_nvml_library_without_nvidia_hardware_is_silent(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("rtx3090-2x", init_error=pynvml.NVMLError_LibraryNotFound())
    assert detect_nvidia(make_linux_probe(tmp_path, nvml=fake)) == ([], [])


def test_driver_not_loaded_is_a_warning_not_an_exception(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("hgx-h100-8x", init_error=pynvml.NVMLError_DriverNotLoaded())
    gpus, warnings = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    assert gpus == []
    assert warnings == ["NVIDIA: NVML could not start (Driver Not Loaded); NVIDIA GPUs were not detected"]
    assert fake.shutdown_calls == 0  # nvmlInit failed: there is nothing to shut down


def test_no_permission_at_init_is_a_warning(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("hgx-h100-8x", init_error=pynvml.NVMLError_NoPermission())
    _, warnings = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    assert warnings == ["NVIDIA: NVML could not start (Insufficient Permissions); NVIDIA GPUs were not detected"]


def test_an_unsupported_query_becomes_an_unknown_field(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("rtx3090-2x", fail={"nvmlDeviceGetCudaComputeCapability": pynvml.NVMLError_NotSupported()})
    gpus, warnings = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    assert warnings == []
    assert gpus[0].compute_capability is None
    assert gpus[0].unknown == ["compute_capability: nvmlDeviceGetCudaComputeCapability failed (Not Supported)"]
    assert gpus[0].memory_total_bytes == 24576 * MIB


def test_a_failing_system_query_is_listed_on_every_gpu(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("rtx3090-2x", fail={"nvmlSystemGetCudaDriverVersion_v2": pynvml.NVMLError_NoPermission()})
    gpus, _ = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    assert [g.cuda_version for g in gpus] == [None, None]
    assert all("cuda_version: nvmlSystemGetCudaDriverVersion_v2 failed (Insufficient Permissions)" in g.unknown for g in gpus)


def test_nvml_is_shut_down_even_when_a_query_raises_something_unexpected(make_nvml, make_linux_probe, tmp_path):
    fake = make_nvml("rtx3090-2x", fail={"nvmlDeviceGetName": RuntimeError("boom")})
    gpus, _ = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    assert fake.shutdown_calls == 1
    assert gpus[0].name == "NVIDIA GPU 0"
    assert "name: nvmlDeviceGetName failed (RuntimeError: boom)" in gpus[0].unknown


def test_missing_pynvml_package_is_a_warning_where_an_nvidia_driver_exists(make_linux_probe, tmp_path, monkeypatch):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/nvidiactl").write_text("")

    def no_pynvml():
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(nvidia, "_import_pynvml", no_pynvml)
    assert detect_nvidia(make_linux_probe(tmp_path)) == (
        [], ["NVIDIA: the nvidia-ml-py package (pynvml) is not installed; NVIDIA GPUs were not detected"]
    )


def test_pynvml_is_not_imported_on_a_linux_machine_without_any_nvidia_trace(make_linux_probe, tmp_path, monkeypatch):
    def must_not_import():
        raise AssertionError("pynvml imported although nothing NVIDIA is present")

    monkeypatch.setattr(nvidia, "_import_pynvml", must_not_import)
    assert detect_nvidia(make_linux_probe(tmp_path)) == ([], [])


# --------------------------------------------------------------------------- mechanisms


def test_direct_nvlink_peers_are_named_by_the_remote_pci_bus_id(make_nvml, make_linux_probe, tmp_path):
    """Bridged boards: each link's remote end is the other GPU (link layout modeled, not recorded)."""
    fake = make_nvml("rtx3090-2x")
    gpu = pynvml.NVML_NVLINK_DEVICE_TYPE_GPU
    fake.nvlink = {0: [(gpu, 1)] * 4, 1: [(gpu, 0)] * 4}
    gpus, _ = detect_nvidia(make_linux_probe(tmp_path, nvml=fake))
    assert [(g.nvlink_active_links, g.nvlink_peers) for g in gpus] == [(4, [1]), (4, [0])]


def test_pynvml_p2p_read_index_is_a_tuple_and_is_passed_as_an_int():
    assert pynvml.NVML_P2P_CAPS_INDEX_READ == (0,)  # the binding's own value; detection unwraps it
    assert nvidia._enum(pynvml.NVML_P2P_CAPS_INDEX_READ) == 0


@pytest.mark.parametrize(("encoded", "text"), [(12070, "12.7"), (12040, "12.4"), (11080, "11.8"), (13000, "13.0")])
def test_cuda_driver_version_is_decoded_as_major_dot_minor(encoded, text):
    assert cuda_version_text(encoded) == text
