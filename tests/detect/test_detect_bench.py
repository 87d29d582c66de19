"""`sizer detect --bench` measures bandwidth for real, briefly, and reports it as measured."""

from sizer.detect import detect_machine
from sizer.detect import bench


def test_memory_bandwidth_is_measured_in_gb_per_second():
    measured = bench.measure_memory_bandwidth(threads=1, buffer_bytes=16 * bench.MIB, seconds=0.05, progress=None)
    assert 0.1 < measured < 10_000


def test_progress_reaches_one_hundred_percent():
    seen = []
    bench.measure_memory_bandwidth(threads=1, buffer_bytes=16 * bench.MIB, seconds=0.05, progress=lambda f, _label: seen.append(f))
    assert seen and seen[-1] == 1.0


def test_detect_with_bench_replaces_the_bandwidth_by_the_measurement(monkeypatch):
    monkeypatch.setattr(bench, "measure_memory_bandwidth", lambda **_: 42.5)
    memory = detect_machine(bench=True).hosts[0].memory
    assert (memory.bandwidth_gb_s, memory.bandwidth_source) == (42.5, "measured")


def test_a_failing_benchmark_is_a_warning_not_a_crash(monkeypatch):
    def broken(**_):
        raise MemoryError("no room")

    monkeypatch.setattr(bench, "measure_memory_bandwidth", broken)
    machine = detect_machine(bench=True)
    assert any("bench: memory bandwidth not measured (MemoryError: no room)" in w for w in machine.warnings)
