"""What each stage cost: wall time, CPU time and peak memory, in its summary and summary.json.

Every stage function is decorated with :func:`timed`, which adds a ``timing`` block to the
summary it returns (what ``curate <stage> --json`` prints and ``curate scan --json`` lists per
step) and keeps the last one of each stage in ``WS/timings.json``, from which the export stage
copies the stages before it into summary.json (``timings``)::

    {"seconds": 12.3, "cpu_seconds": 20.1, "peak_rss_mib": 812.0, "peak_scope": "stage",
     "up_to_date": false, "at": "2026-12-03T17:40:00Z"}

``seconds`` is wall time; ``cpu_seconds`` the process's user + system time over all threads (on a
busy machine wall time grows, CPU time does not); ``peak_rss_mib`` the largest resident set while
the stage ran. On Linux that is the kernel's high-water mark (VmHWM), reset when the stage starts
(``peak_scope: "stage"``), so it sees torch, faiss and BLAS memory that tracemalloc would not;
elsewhere it is the process's peak so far (``"process"``), an upper bound.
"""

from __future__ import annotations

import functools
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from curate.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])

#: the file beside the artifacts that keeps each stage's last timing (not an artifact: no stage
#: reads it as an input, and nothing is stale when it changes)
TIMINGS_FILE = "timings.json"

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
#: peaks of the stages being measured, outermost first (a stage may run another one)
_open_peaks: list[float] = []


def _status_mib(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _process_peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def _reset_peak() -> bool:
    """Reset the kernel's high-water mark to the current RSS; False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_mib("VmHWM") is not None


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def measure() -> Iterator[dict[str, Any]]:
    """Measure the block: yields a dict that holds ``seconds``, ``cpu_seconds``, ``peak_rss_mib``
    and ``peak_scope`` once the block ends (see the module docstring). Nested blocks each get
    their own peak; an outer block's peak includes its inner ones'."""
    before = _status_mib("VmHWM")
    if _open_peaks and before is not None:
        _open_peaks[-1] = max(_open_peaks[-1], before)
    scope = "stage" if _reset_peak() else "process"
    _open_peaks.append(0.0)
    record: dict[str, Any] = {}
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield record
    finally:
        inner = _open_peaks.pop()
        hwm = _status_mib("VmHWM") if scope == "stage" else None
        peak = max(inner, hwm) if hwm is not None else _process_peak_mib()
        if _open_peaks:
            _open_peaks[-1] = max(_open_peaks[-1], peak)
        record.update(
            seconds=round(time.perf_counter() - started, 3),
            cpu_seconds=round(cpu_seconds() - cpu, 3),
            peak_rss_mib=round(peak, 1),
            peak_scope=scope,
        )


def read_timings(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Each stage's last timing in ``ws`` (stage name -> timing); empty when none is recorded
    or the file cannot be read (timings are informative, never a reason to fail)."""
    try:
        data = json.loads((ws.root / TIMINGS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_timing(ws: Workspace, stage: str, timing: dict[str, Any], *, replaces: tuple[str, ...] = ()) -> None:
    """Keep ``timing`` as ``stage``'s last one in ``WS/timings.json`` and drop the stages it
    ``replaces`` (an import of user embeddings stands in for index and embed, and they for it);
    best effort: a workspace that cannot take it loses only the timing."""
    from curate.storage import write_text_atomic

    if not ws.root.is_dir():
        return
    timing.setdefault("at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    timings = {name: value for name, value in read_timings(ws).items() if name not in replaces}
    timings[stage] = timing
    try:
        write_text_atomic(ws.root / TIMINGS_FILE, json.dumps(timings, indent=2) + "\n")
    except Exception:  # noqa: BLE001 - a timing is never worth failing a stage for
        pass


def timed(stage: str, *, replaces: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorate ``stage``'s library function: its summary gets ``timing`` (:func:`measure`, plus
    ``up_to_date`` and ``at``), which is also kept in ``WS/timings.json`` in place of the stages
    it ``replaces``. The function must take the workspace as ``ws`` and return a dict; the
    signature is kept."""

    def decorate(func: F) -> F:
        import inspect

        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with measure() as timing:
                summary = func(*args, **kwargs)
            timing["up_to_date"] = bool(summary.get("up_to_date"))
            ws = signature.bind_partial(*args, **kwargs).arguments.get("ws")
            if ws is not None:
                record_timing(ws, stage, timing, replaces=replaces)
            return {**summary, "timing": timing}

        return wrapper  # type: ignore[return-value]

    return decorate
