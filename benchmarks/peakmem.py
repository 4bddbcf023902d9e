"""Peak resident memory of a job run in a fresh process, for the benchmarks' memory checks."""

from __future__ import annotations

import json
import subprocess
import sys


def peak_mib(code: str) -> float:
    """Peak resident memory (MiB) of running `code` in a fresh Python (with benchmarks/ on
    its path)."""
    full = ("import resource, sys; sys.path.insert(0, 'benchmarks');" + code +
            ";print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", full], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def report(what: str, n: int, small: float, large: float) -> None:
    """Print N against 4N (goal: flat), and the figures as JSON."""
    print(f"(b) peak resident memory, {what}: {n:,} inputs {small:.0f} MiB, {4 * n:,} inputs "
          f"{large:.0f} MiB (ratio {large / small:.3f}; goal: flat)")
    print(json.dumps({"mem_small_mib": small, "mem_large_mib": large}))
