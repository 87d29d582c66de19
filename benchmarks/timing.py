"""How fast sizer answers: CLI start-up, `sizer recommend` end to end, and a whole-catalog sweep in-process.

    python benchmarks/timing.py

Prints medians over a few runs.  Targets (the issues): the CLI answers in a fraction of a second;
`sizer recommend` with no arguments in under a second; a catalog sweep over one machine well under
a second in-process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def wall(command: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heaviest_imports() -> list[tuple[int, str]]:
    completed = subprocess.run([sys.executable, "-X", "importtime", "-m", "sizer", "--help"], capture_output=True, text=True, check=True)
    rows = []
    for line in completed.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    return sorted(rows, reverse=True)[:8]


def main() -> int:
    python = sys.executable
    print(f"sizer --help                          {wall([python, '-m', 'sizer', '--help']):.3f} s")
    print(f"sizer models --json                   {wall([python, '-m', 'sizer', 'models', '--json']):.3f} s")
    print(f"sizer estimate (8B on an RTX 4090)    {wall([python, '-m', 'sizer', 'estimate', 'llama-3.1-8b-instruct', '-H', 'rtx-4090@64']):.3f} s")
    print(f"sizer recommend (no arguments)        {wall([python, '-m', 'sizer', 'recommend'], runs=3):.3f} s")
    print(f"sizer recommend -H rtx-4090@64        {wall([python, '-m', 'sizer', 'recommend', '-H', 'rtx-4090@64'], runs=3):.3f} s")

    from sizer.recommend import recommend

    for spec in ("rtx-4090@64", "m3-max-40c@64", "8xh100-sxm@1024", "cpu@64"):
        recommend(hardware=spec)  # warm: catalogs and weights cached, as in a long-running app
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            result = recommend(hardware=spec, top=None)
            runs.append(time.perf_counter() - start)
        print(f"in-process catalog sweep {spec:18} {statistics.median(runs):.3f} s  ({len(result.options)} options, {len(result.rejected)} rejected)")
    print("\nheaviest imports of `sizer --help` (microseconds, cumulative):")
    for micros, name in heaviest_imports():
        print(f"  {micros:>8}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
