"""Progress bars and log lines: always on stderr, silent when stderr is not a terminal or quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence progress bars and log lines for the rest of the process (``--quiet``)."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    return not _quiet and sys.stderr.isatty()


def bar(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """A tqdm bar on stderr, disabled when not interactive. Usable as iterator or context manager."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not enabled(),
        dynamic_ncols=True,
        leave=False,
    )


def log(message: str) -> None:
    """A one-line note on stderr (suppressed by --quiet; shown even when stderr is not a tty)."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def iterate(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    yield from bar(iterable, total=total, desc=desc, unit=unit)
