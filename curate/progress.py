"""Progress and log lines, always on stderr: the one mechanism every stage reports through.

How a long loop shows its progress (:func:`display`):

* ``bar``: a tqdm bar, redrawn in place (the default on a terminal);
* ``log``: a plain line every few seconds with done / total, rate and ETA (the default when stderr
  is a file or a pipe: CI logs, ``2> log.txt``), so a long embedding never looks hung;
* ``none``: nothing (the default with ``--quiet``).

``--progress bar|log|none`` picks one whatever stderr is. :func:`log` lines (one-off notes) are
shown unless quiet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

#: what ``--progress`` accepts; ``auto`` is ``bar`` on a terminal, ``log`` otherwise, ``none`` when quiet
MODES = ("auto", "bar", "log", "none")

#: seconds between two lines in ``log`` mode
DEFAULT_LOG_INTERVAL_S = 5.0

_quiet = False
_mode = "auto"
_interval = DEFAULT_LOG_INTERVAL_S


def set_quiet(quiet: bool) -> None:
    """Silence log lines (and, unless a progress mode is set, progress) from now on (``--quiet``)."""
    global _quiet
    _quiet = quiet


def set_mode(mode: str = "auto", *, interval: float | None = None) -> None:
    """Show progress as ``mode`` (one of :data:`MODES`) from now on (``--progress``); ``interval``
    sets the seconds between lines in ``log`` mode (None keeps the current one)."""
    global _mode, _interval
    if mode not in MODES:
        raise ValueError(f"unknown progress mode {mode!r}; use one of: {', '.join(MODES)}")
    _mode = mode
    if interval is not None:
        _interval = interval


def display() -> str:
    """How progress shows now: ``bar``, ``log`` or ``none`` (see the module docstring)."""
    if _mode != "auto":
        return _mode
    if _quiet:
        return "none"
    return "bar" if sys.stderr.isatty() else "log"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LogProgress:
    """Progress as plain lines on stderr: at most one per ``interval`` seconds while running
    (``embed: 1200/5000 img (24%), 27.0 img/s, ETA 2m21s``) and a last one when it ends, if it
    ran long enough to print any. Used like a tqdm bar: a context manager with ``update(n)``."""

    def __init__(
        self,
        total: int | None,
        *,
        desc: str,
        unit: str,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit, self.interval, self.clock = total, desc, unit, interval, clock
        self.done = 0
        self.lines = 0
        self.started = self.last = clock()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._print(self.status(now))

    def status(self, now: float) -> str:
        """The line for ``now``: done / total (percent), rate, ETA."""
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {self.done}/{self.total} {self.unit}" if self.total else f"{self.desc}: {self.done}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        parts.append(f"{rate:.1f} {self.unit}/s")
        if self.total and rate > 0:
            parts.append(f"ETA {_duration(max(self.total - self.done, 0) / rate)}")
        return ", ".join(parts)

    def close(self) -> None:
        if self.lines:
            elapsed = self.clock() - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            self._print(f"{self.desc}: {self.done} {self.unit} in {_duration(elapsed)}, {rate:.1f} {self.unit}/s")

    def _print(self, line: str) -> None:
        self.lines += 1
        print(line, file=sys.stderr, flush=True)


def bar(*, total: int | None = None, desc: str = "", unit: str = "it") -> Any:
    """Progress of a loop of ``total`` steps, shown as :func:`display` says: a tqdm bar, a
    :class:`LogProgress`, or a disabled bar. A context manager with ``update(n)``."""
    from tqdm.auto import tqdm

    mode = display()
    if mode == "log":
        return LogProgress(total, desc=desc, unit=unit, interval=_interval)
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=mode == "none",
        dynamic_ncols=True,
        leave=False,
    )


def log(message: str) -> None:
    """A one-line note on stderr (suppressed by --quiet; shown even when stderr is not a tty)."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)
