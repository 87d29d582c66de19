"""The one boundary between hardware detection and the operating system.

Every detector reads the machine only through a :class:`Probe`: files under ``root`` (``/proc``,
``/sys``, ``/dev``, ``/.dockerenv``), commands through ``run`` (``sysctl``, ``ioreg``, ``amd-smi``…),
binaries through ``which``, NVML through ``nvml`` (the ``pynvml`` module or a stand-in), and psutil
through two callables. Tests replace these with recorded outputs; nothing else is faked.
"""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

Run = Callable[[Sequence[str]], Optional[str]]
"""Run a command, return its standard output (whatever its exit status), or None if it could not run."""

COMMAND_TIMEOUT_S = 10.0


def default_run(cmd: Sequence[str]) -> Optional[str]:
    """Run ``cmd`` without a shell; stdout as text, or None when the binary is missing, hangs or fails to start.

    A non-zero exit status still returns stdout: ``sysctl a b c`` prints the names it knows and
    complains on stderr about the others.
    """
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout


def _cpu_count(logical: bool) -> Optional[int]:
    import psutil  # imported here: the CLI must start fast

    return psutil.cpu_count(logical=logical)


def _virtual_memory() -> Any:
    import psutil

    return psutil.virtual_memory()


def _cpuinfo_fallback() -> dict:
    """py-cpuinfo's view of the CPU. Slow (about 1 s measured: it parses in a child process), so last resort."""
    import cpuinfo

    return cpuinfo.get_cpu_info()


@dataclass
class Probe:
    """How detection reaches the machine. The defaults read the real one."""

    root: Path = Path("/")
    run: Run = default_run
    which: Callable[[str], Optional[str]] = shutil.which
    system: str = field(default_factory=platform.system)
    machine: str = field(default_factory=platform.machine)
    release: str = field(default_factory=platform.release)
    hostname: Callable[[], str] = socket.gethostname
    nvml: Any = None
    """The pynvml module, or a stand-in with the same functions; None imports pynvml when needed."""
    cpu_count: Callable[[bool], Optional[int]] = _cpu_count
    virtual_memory: Callable[[], Any] = _virtual_memory
    cpuinfo_fallback: Optional[Callable[[], dict]] = _cpuinfo_fallback
    match_accelerator: Optional[Callable[..., Any]] = None
    """``sizer.catalog.match_accelerator`` or a stand-in; None imports the catalog when needed."""

    def path(self, absolute: str) -> Path:
        """The file ``absolute`` (e.g. ``/proc/cpuinfo``) under this probe's root."""
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> Optional[str]:
        """Text of ``absolute`` under the root, or None if it cannot be read."""
        try:
            return self.path(absolute).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def exists(self, absolute: str) -> bool:
        try:
            return self.path(absolute).exists()
        except OSError:
            return False
