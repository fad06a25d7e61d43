"""Wall time and peak resident memory of benchmark steps (Linux).

Peak RSS comes from the kernel (VmHWM), which sees torch/faiss/BLAS allocations that
tracemalloc misses; writing 5 to /proc/self/clear_refs resets it, so each step gets its own peak.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (contention does not inflate it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def rss_gib() -> float:
    return _status_kib("VmRSS") / 2**20


def peak_gib() -> float:
    return _status_kib("VmHWM") / 2**20


@contextmanager
def step(results: list[dict], name: str):
    """Time a step (wall and CPU) and record its peak RSS (since the step started) into ``results``."""
    reset_peak()
    started = time.perf_counter()
    cpu = cpu_seconds()
    record = {"step": name}
    try:
        yield record
    finally:
        record["seconds"] = time.perf_counter() - started
        record["cpu_seconds"] = cpu_seconds() - cpu
        record["peak_rss_gib"] = peak_gib()
        results.append(record)
