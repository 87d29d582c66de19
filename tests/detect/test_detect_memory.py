"""System memory and container limits, from recorded cgroup v1 and v2 files."""

from __future__ import annotations

from types import SimpleNamespace

from sizer.detect.memory import cgroup_dirs, detect_memory, in_container, read_cgroup

GIB = 1 << 30
MIB = 1 << 20


def write(root, path, text):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


# --------------------------------------------------------------------------- cgroup v2 (docker --memory 256m)


def test_cgroup_v2_memory_max_caps_usable_memory(make_linux_probe, fixtures):
    memory, limits, warnings = detect_memory(make_linux_probe(fixtures / "cgroup/v2-docker-256m/root"))
    assert limits.version == 2
    assert memory.cgroup_limit_bytes == 256 * MIB
    assert memory.total_bytes == 25276502016  # the host's RAM is still reported
    assert memory.usable_bytes == 256 * MIB
    assert warnings == []


def test_cgroup_v2_cpu_max_gives_a_fractional_cpu_quota(make_linux_probe, fixtures):
    limits = read_cgroup(make_linux_probe(fixtures / "cgroup/v2-docker-256m/root"))
    assert limits.cpu_quota == 0.5


def test_cgroup_v2_max_means_no_limit(make_linux_probe, tmp_path):
    write(tmp_path, "/proc/self/cgroup", "0::/\n")
    write(tmp_path, "/sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
    write(tmp_path, "/sys/fs/cgroup/memory.max", "max\n")
    write(tmp_path, "/sys/fs/cgroup/cpu.max", "max 100000\n")
    limits = read_cgroup(make_linux_probe(tmp_path))
    assert (limits.memory_limit_bytes, limits.cpu_quota) == (None, None)


def test_cgroup_v2_limit_of_a_parent_cgroup_applies_to_the_child(make_linux_probe, tmp_path):
    write(tmp_path, "/proc/self/cgroup", "0::/user.slice/app.scope\n")
    write(tmp_path, "/sys/fs/cgroup/cgroup.controllers", "memory\n")
    write(tmp_path, "/sys/fs/cgroup/user.slice/memory.max", f"{8 * GIB}\n")
    write(tmp_path, "/sys/fs/cgroup/user.slice/app.scope/memory.max", "max\n")
    assert read_cgroup(make_linux_probe(tmp_path)).memory_limit_bytes == 8 * GIB


def test_available_memory_is_the_headroom_left_under_the_limit(make_linux_probe, tmp_path):
    write(tmp_path, "/proc/self/cgroup", "0::/\n")
    write(tmp_path, "/sys/fs/cgroup/cgroup.controllers", "memory\n")
    write(tmp_path, "/sys/fs/cgroup/memory.max", f"{GIB}\n")
    write(tmp_path, "/sys/fs/cgroup/memory.current", f"{600 * MIB}\n")
    write(tmp_path, "/sys/fs/cgroup/memory.stat", f"anon {400 * MIB}\ninactive_file {100 * MIB}\n")
    memory, _, _ = detect_memory(make_linux_probe(tmp_path))
    assert memory.available_bytes == GIB - 500 * MIB


# --------------------------------------------------------------------------- cgroup v1 (ECS task, docker -m 1g)


def test_cgroup_v1_limit_is_found_at_the_mount_root_when_the_host_path_is_not_mounted(make_linux_probe, fixtures):
    limits = read_cgroup(make_linux_probe(fixtures / "cgroup/v1-ecs-docker-1g/root"))
    assert limits.version == 1
    assert limits.path.startswith("/ecs/19f0f00eb13949258b67900d1bc2f733/")
    assert limits.memory_limit_bytes == GIB


def test_cgroup_v1_cfs_quota_over_period_is_the_cpu_quota(make_linux_probe, fixtures):
    limits = read_cgroup(make_linux_probe(fixtures / "cgroup/v1-ecs-docker-1g/root"))
    assert limits.cpu_quota == 0.2


def test_cgroup_v1_page_counter_max_means_no_limit(make_linux_probe, tmp_path):
    write(tmp_path, "/proc/self/cgroup", "4:memory:/\n1:cpu:/\n")
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")  # recorded on the dev VM
    write(tmp_path, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
    write(tmp_path, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
    limits = read_cgroup(make_linux_probe(tmp_path))
    assert (limits.version, limits.memory_limit_bytes, limits.cpu_quota) == (1, None, None)


def test_no_proc_self_cgroup_means_no_limits(make_linux_probe, tmp_path):
    limits = read_cgroup(make_linux_probe(tmp_path))
    assert (limits.version, limits.memory_limit_bytes, limits.cpu_quota) == (None, None, None)


def test_cgroup_dirs_walk_from_the_process_cgroup_up_to_the_mount():
    assert cgroup_dirs("/sys/fs/cgroup/memory", "/ecs/a/b") == [
        "/sys/fs/cgroup/memory/ecs/a/b", "/sys/fs/cgroup/memory/ecs/a", "/sys/fs/cgroup/memory/ecs", "/sys/fs/cgroup/memory",
    ]


# --------------------------------------------------------------------------- containers and RAM


def test_dockerenv_marks_a_container(make_linux_probe, fixtures):
    assert in_container(make_linux_probe(fixtures / "cgroup/v2-docker-256m/root"))


def test_an_ecs_cgroup_path_marks_a_container_without_marker_files(make_linux_probe, tmp_path, fixtures):
    write(tmp_path, "/proc/self/cgroup", (fixtures / "cgroup/v1-ecs-docker-1g/root/proc/self/cgroup").read_text())
    assert in_container(make_linux_probe(tmp_path))


def test_a_bare_host_is_not_a_container(make_linux_probe, tmp_path):
    write(tmp_path, "/proc/self/cgroup", "0::/user.slice/user-1000.slice/session-3.scope\n")
    assert not in_container(make_linux_probe(tmp_path))


def test_psutil_failure_is_a_warning(make_linux_probe, tmp_path):
    def broken():
        raise PermissionError("denied")

    memory, _, warnings = detect_memory(make_linux_probe(tmp_path, virtual_memory=broken))
    assert (memory.total_bytes, memory.available_bytes) == (None, None)
    assert warnings == ["memory: system RAM could not be read (PermissionError: denied)"]


def test_host_ram_is_reported_when_there_is_no_container_limit(make_linux_probe, tmp_path):
    ram = SimpleNamespace(total=64 * GIB, available=40 * GIB)
    memory, _, _ = detect_memory(make_linux_probe(tmp_path, virtual_memory=lambda: ram))
    assert (memory.total_bytes, memory.available_bytes, memory.usable_bytes) == (64 * GIB, 40 * GIB, 64 * GIB)
