"""CPU detection from recorded /proc/cpuinfo files."""

from __future__ import annotations

from sizer.detect.cpu import detect_cpu


def cpu_of(make_linux_probe, fixtures, folder, **kwargs):
    return detect_cpu(make_linux_probe(fixtures / "linux" / folder, **kwargs))


def test_granite_rapids_reports_avx512_and_amx(make_linux_probe, fixtures):
    cpu, warnings = cpu_of(make_linux_probe, fixtures, "graniterapids")
    assert cpu.brand == "Intel(R) Xeon(R) 6972P"
    assert cpu.features == [
        "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
        "amx", "amx_bf16", "amx_int8", "amx_tile",
    ]
    assert warnings == []


def test_neoverse_n2_names_the_core_and_reports_sve_i8mm_and_bf16(make_linux_probe, fixtures):
    cpu, warnings = cpu_of(make_linux_probe, fixtures, "neoverse-n2", machine="aarch64")
    assert (cpu.brand, cpu.architecture) == ("ARM Neoverse-N2", "arm64")
    assert cpu.features == ["neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2"]
    assert warnings == []


def test_epyc_vm_has_avx512_but_no_amx(make_linux_probe, fixtures):
    cpu, _ = cpu_of(make_linux_probe, fixtures, "dev-vm-epyc")
    assert cpu.brand == "AMD EPYC"
    assert cpu.features == ["avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16"]


def test_core_counts_come_from_psutil_on_linux(make_linux_probe, fixtures):
    counts = {False: 96, True: 192}
    cpu, _ = cpu_of(make_linux_probe, fixtures, "graniterapids", cpu_count=lambda logical: counts[logical])
    assert (cpu.physical_cores, cpu.logical_cores) == (96, 192)


def test_a_failing_core_count_is_a_warning(make_linux_probe, fixtures):
    def broken(logical):
        raise OSError("no /sys")

    cpu, warnings = cpu_of(make_linux_probe, fixtures, "graniterapids", cpu_count=broken)
    assert cpu.physical_cores is None
    assert warnings == ["CPU: core counts unavailable (OSError: no /sys)"]


def test_unreadable_proc_cpuinfo_is_a_warning_and_py_cpuinfo_names_the_brand(make_linux_probe, tmp_path):
    calls = []

    def fallback():
        calls.append(1)
        return {"brand_raw": "Some CPU", "flags": ["avx2", "fma"]}

    cpu, warnings = detect_cpu(make_linux_probe(tmp_path, cpuinfo_fallback=fallback))
    assert warnings == ["CPU: /proc/cpuinfo could not be read; ISA features unknown"]
    assert (cpu.brand, cpu.features, len(calls)) == ("Some CPU", ["avx2", "fma"], 1)


def test_py_cpuinfo_is_not_called_when_proc_cpuinfo_names_the_cpu(make_linux_probe, fixtures):
    def fallback():
        raise AssertionError("py-cpuinfo is slow and must not run here")

    cpu, warnings = cpu_of(make_linux_probe, fixtures, "graniterapids", cpuinfo_fallback=fallback)
    assert cpu.brand == "Intel(R) Xeon(R) 6972P"
    assert warnings == []


def test_an_unknown_arm_part_is_reported_by_number(make_linux_probe, tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("processor : 0\nFeatures : fp asimd\nCPU implementer : 0xc0\nCPU part : 0xac3\n")
    cpu, _ = detect_cpu(make_linux_probe(tmp_path, machine="aarch64"))
    assert (cpu.brand, cpu.features) == ("Ampere (part 0xac3)", ["neon"])
