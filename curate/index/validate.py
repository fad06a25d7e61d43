"""Reading and decoding every sample once: size, full-size dimensions, content hash, the image
properties the defect checks read (:mod:`curate.index.properties`), or why not.

Decoding is the slow part of indexing, so :func:`inspect_all` spreads it over worker
processes in chunks, keeping only a bounded number of chunks in flight (a Parquet source ships
image bytes with its tasks, and those must not pile up in memory). Results come back in task
order whatever the number of workers.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any, NamedTuple

from curate.config import default_workers
from curate.errors import CurateError
from curate.index.images import UnreadableImage, decode_draft, read_bytes
from curate.index.properties import DRAFT, measure
from curate.progress import bar

#: below this many samples the pool's start-up costs more than it saves
MIN_PARALLEL = 64
#: chunks in flight per worker: enough to keep workers busy, few enough to bound memory
CHUNKS_IN_FLIGHT = 4


class Task(NamedTuple):
    """Where one sample's bytes are; ``data`` carries them when the reader already has them;
    ``error`` set means the reader already knows the sample is unreadable."""

    path: str
    member: str | None
    source: str
    data: bytes | None = None
    error: str | None = None


class Inspection(NamedTuple):
    """What the index records of one sample; ``error`` is None exactly when it is readable."""

    size_bytes: int | None
    width: int | None
    height: int | None
    hash: str | None
    error: str | None
    stats: dict[str, Any] | None = None


def content_hash(data: bytes) -> str:
    """blake2b-128 hex digest of the encoded bytes (equal for byte-identical files)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, KeyError):
        return f"not found in its container: {exc.args[0] if exc.args else exc}"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return str(exc) or type(exc).__name__


def inspect_sample(task: Task) -> Inspection:
    """Read (unless ``task.data`` is given) and decode one sample; never raises for bad data."""
    if task.error is not None:
        return Inspection(None, None, None, None, task.error)
    data = task.data
    if data is None:
        try:
            data = read_bytes(task.path, task.member, task.source)
        except (OSError, KeyError, UnreadableImage) as exc:
            return Inspection(None, None, None, None, _read_error(exc))
    digest = content_hash(data)
    try:
        img, (width, height) = decode_draft(data, DRAFT)
    except UnreadableImage as exc:
        return Inspection(len(data), None, None, digest, str(exc))
    return Inspection(len(data), width, height, digest, None, measure(img))


def _inspect_chunk(chunk: list[Task]) -> list[Inspection]:
    with warnings.catch_warnings():  # Pillow warns about odd EXIF, palettes, ... per file
        warnings.simplefilter("ignore")
        return [inspect_sample(task) for task in chunk]


def _chunks(tasks: Iterable[Task], size: int) -> Iterator[list[Task]]:
    it = iter(tasks)
    while chunk := list(islice(it, size)):
        yield chunk


def _pool_context():
    # fork on Linux: workers need only this module, and a spawned / forkserver child would
    # re-import the caller's main module (an unguarded script, ``python -`` or ``-m`` entry
    # points break). The pool is started before the progress bar, so no thread of ours is
    # copied. Elsewhere the platform's default (spawn), whose rules users there already follow.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def inspect_all(tasks: Iterable[Task], *, total: int, workers: int | None = None) -> list[Inspection]:
    """Inspect every task, ``workers`` processes at a time (0 or 1: in this process).

    ``total`` is the number of tasks (for the progress bar and chunking). Returns one
    :class:`Inspection` per task, in task order.
    """
    workers = default_workers() if workers is None else workers
    results: list[Inspection] = []
    if workers <= 1 or total < MIN_PARALLEL:
        with bar(total=total, desc="index", unit="img") as progress:
            for chunk in _chunks(tasks, 64):
                results.extend(_inspect_chunk(chunk))
                progress.update(len(chunk))
        return results
    chunks = _chunks(tasks, max(1, min(64, total // (workers * 8))))
    try:
        with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
            # the first submissions start every worker, before the progress bar's thread exists
            pending = deque(pool.submit(_inspect_chunk, c) for c in islice(chunks, workers * CHUNKS_IN_FLIGHT))
            with bar(total=total, desc="index", unit="img") as progress:
                while pending:
                    done = pending.popleft().result()
                    results.extend(done)
                    progress.update(len(done))
                    chunk = next(chunks, None)
                    if chunk is not None:
                        pending.append(pool.submit(_inspect_chunk, chunk))
    except BrokenProcessPool:
        raise CurateError(
            "an image-decoding worker died (out of memory, or a decoder crashed); "
            "re-run with --workers 0 to decode in one process and find the file"
        ) from None
    return results
