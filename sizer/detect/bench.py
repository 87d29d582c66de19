"""`sizer detect --bench`: a few seconds measuring this machine's real memory bandwidth.

Decoding is memory-bound, so the bandwidth the engine actually gets matters more than the
datasheet's.  The measurement copies large buffers on as many threads as there are physical
cores (numpy releases the GIL for large copies, as llama.cpp's threads stream weights), and
counts each copied byte twice (read and write), as STREAM's Copy kernel does.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

MIB = 2**20
DEFAULT_SECONDS = 3.0


def _progress(fraction: float, label: str) -> None:
    width = 30
    filled = int(width * min(fraction, 1.0))
    sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


def measure_memory_bandwidth(
    *,
    threads: Optional[int] = None,
    buffer_bytes: int = 64 * MIB,
    seconds: float = DEFAULT_SECONDS,
    available_bytes: Optional[int] = None,
    progress: Optional[Callable[[float, str], None]] = _progress,
) -> float:
    """Best sustained copy bandwidth over `seconds`, in decimal GB/s."""
    import numpy as np

    threads = max(1, threads or os.cpu_count() or 1)
    if available_bytes:
        # Two buffers per thread; never take more than a quarter of what is free.
        buffer_bytes = max(16 * MIB, min(buffer_bytes, available_bytes // (8 * threads)))
    elements = buffer_bytes // 8
    sources = [np.ones(elements, dtype=np.float64) for _ in range(threads)]
    targets = [np.empty_like(s) for s in sources]

    def copy(index: int) -> None:
        np.copyto(targets[index], sources[index])

    best = 0.0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(copy, range(threads)))  # warm-up: touch every page
        while True:
            begin = time.perf_counter()
            list(pool.map(copy, range(threads)))
            elapsed = time.perf_counter() - begin
            best = max(best, 2 * buffer_bytes * threads / elapsed / 1e9)
            done = (time.perf_counter() - started) / seconds
            if progress:
                progress(min(done, 1.0), "measuring memory bandwidth")
            if done >= 1.0:
                break
    return round(best, 1)


def measure_gpu_bandwidth(seconds: float = 2.0) -> Optional[float]:
    """Device-to-device copy bandwidth of GPU 0 through PyTorch, if PyTorch with CUDA is installed."""
    try:
        import torch  # noqa: F401  (only when the user already has it)
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    size = 512 * MIB
    source = torch.empty(size, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    best, started = 0.0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        target.copy_(source)
        torch.cuda.synchronize()
        best = max(best, 2 * size / (time.perf_counter() - begin) / 1e9)
    return round(best, 1)
