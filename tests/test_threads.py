import numpy as np
import pytest

from curate import threads


def test_thread_count_follows_curate_threads_then_omp(monkeypatch):
    monkeypatch.delenv("CURATE_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.compute_threads() == 1
    monkeypatch.setenv("CURATE_THREADS", "3")
    assert threads.compute_threads() == 3
    monkeypatch.setenv("CURATE_THREADS", "zero")  # not a count: ignored
    assert threads.compute_threads() == 1


@pytest.mark.parametrize("count", ["1", "2", "4"])
def test_map_rows_visits_every_row_once(monkeypatch, count):
    monkeypatch.setenv("CURATE_THREADS", count)
    seen = np.zeros(1001, dtype=np.int64)

    def visit(rows: slice) -> None:
        seen[rows] += 1

    threads.map_rows(visit, 1001, 10, cells=70)  # 7 rows a block: 143 blocks
    assert (seen == 1).all()
    assert threads.row_block(10, cells=70) == 7
    assert threads.row_block(10_000, cells=70) == 1


def test_map_rows_raises_what_a_block_raised(monkeypatch):
    monkeypatch.setenv("CURATE_THREADS", "2")

    def fail(rows: slice) -> None:
        if rows.start >= 50:
            raise ValueError("block failed")

    with pytest.raises(ValueError, match="block failed"):
        threads.map_rows(fail, 100, 1, cells=10)


def test_a_forked_child_gets_a_pool_of_its_own(monkeypatch):
    import multiprocessing

    monkeypatch.setenv("CURATE_THREADS", "2")
    threads.map_rows(lambda rows: None, 100, 1, cells=10)  # the parent's pool exists

    def child(queue) -> None:
        seen = np.zeros(100, dtype=np.int64)

        def visit(rows: slice) -> None:
            seen[rows] += 1

        threads.map_rows(visit, 100, 1, cells=10)
        queue.put(int(seen.sum()))

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=child, args=(queue,))
    process.start()
    process.join(60)
    if process.is_alive():  # hung: do not leave it behind
        process.kill()
    assert process.exitcode == 0
    assert queue.get(timeout=5) == 100


def test_map_rows_inside_a_block_runs_inline(monkeypatch):
    monkeypatch.setenv("CURATE_THREADS", "2")
    seen = np.zeros((8, 8), dtype=np.int64)

    def outer(rows: slice) -> None:
        def inner(cols: slice) -> None:
            seen[rows, cols] += 1

        threads.map_rows(inner, 8, 1, cells=2)  # nested: must not wait on the busy pool

    threads.map_rows(outer, 8, 1, cells=1)
    assert (seen == 1).all()
