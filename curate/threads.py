"""Row blocks on the CPUs this process may use: element-wise numpy work in parallel threads.

numpy's ufuncs (``exp``, ``multiply``, reductions) release the GIL but run on one core, while
its matrix products use every core BLAS has. Work that is mostly element-wise over a large
(rows x classes) array — the calibration fits' softmax, for instance — therefore leaves the
other cores idle. :func:`map_rows` cuts the rows into cache-sized blocks and runs a function on
each in a small thread pool. Each block is computed exactly as the whole array would be (a row
never spans two blocks), so the results are bit-identical to the one-thread computation.

The thread count is the CPUs in this process's affinity mask, capped by ``OMP_NUM_THREADS``
when that is set (the usual way to ask numerical code for fewer threads), and can be fixed
with ``CURATE_THREADS``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

#: cells (rows x columns) per block: 512 x 1000 float64 is 4 MB, which stays in cache while the
#: block's few passes (scale, max, exp, sum) run over it (blocked was 2.2x faster than whole
#: 5000 x 1000 arrays on this project's CPU, before any threading)
BLOCK_CELLS = 1 << 19

_PREFIX = "curate-rows"
_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0


def compute_threads() -> int:
    """Threads :func:`map_rows` uses: ``CURATE_THREADS`` if set, else the CPUs this process may
    run on, at most ``OMP_NUM_THREADS`` when that is set."""
    fixed = os.environ.get("CURATE_THREADS", "").strip()
    if fixed.isdigit() and int(fixed) > 0:
        return int(fixed)
    from curate.config import available_cpus

    cpus = available_cpus()
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:
        cpus = min(cpus, int(omp))
    return max(1, cpus)


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when one is needed."""
    global _POOL, _POOL_SIZE
    _POOL, _POOL_SIZE = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool(size: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    if _POOL is None or _POOL_SIZE != size:
        if _POOL is not None:
            _POOL.shutdown(wait=False)
        _POOL, _POOL_SIZE = ThreadPoolExecutor(max_workers=size, thread_name_prefix=_PREFIX), size
    return _POOL


def row_block(columns: int, *, cells: int | None = None) -> int:
    """Rows per block for arrays of ``columns`` columns (at least 1): ``cells`` (default
    :data:`BLOCK_CELLS`) cells a block."""
    return max(1, (BLOCK_CELLS if cells is None else cells) // max(1, columns))


def map_rows(fn: Callable[[slice], None], rows: int, columns: int, *, cells: int | None = None) -> None:
    """Call ``fn(slice)`` once for every block of ``rows`` (:func:`row_block` rows each), in
    threads when there is more than one block and more than one thread. ``fn`` writes its
    results into arrays the caller owns (each block its own rows), so the order of the calls does
    not matter; an exception in any block is raised here."""
    step = row_block(columns, cells=cells)
    blocks = [slice(start, min(start + step, rows)) for start in range(0, rows, step)]
    threads = min(compute_threads(), len(blocks))
    if threads <= 1 or threading.current_thread().name.startswith(_PREFIX):
        # one thread, or called from inside a block: a nested wait on the same pool could deadlock
        for block in blocks:
            fn(block)
        return
    for future in [_pool(threads).submit(fn, block) for block in blocks]:
        future.result()
