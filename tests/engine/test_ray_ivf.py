"""The cluster-batched IVF search as Ray tasks over the shards builds ivf_knn's graph."""

from __future__ import annotations

import numpy as np
import pytest

from curate.embed import store
from curate.engine.ray_ivf import ShardedRows, deal_lists, ray_ivf_knn
from curate.graph.ivf import ivf_knn
from curate.graph.neighbors import exact_knn

pytest.importorskip("ray")


def _write_folder(folder, emb: np.ndarray, shard_size: int) -> None:
    n, dim = emb.shape
    store.start_run(folder, fingerprint="test", inputs={}, params={}, dim=dim, shard_size=shard_size, num_rows=n)
    for i, start in enumerate(range(0, n, shard_size)):
        rows = range(start, min(start + shard_size, n))
        store.write_shard(folder, i, [f"s{r}" for r in rows], emb[start : start + shard_size])
    store.finish_run(folder)


def _long_tailed(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 12 centres, one holding half the rows (so a list is split)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, dim))
    which = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 12, n))
    x = centres[which] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def test_ray_ivf_builds_the_graph_ivf_knn_builds(ray_two_nodes, tmp_path):
    import ray

    emb = _long_tailed(2500, 24)
    folder = tmp_path / "embeddings"
    _write_folder(folder, emb, shard_size=700)  # 4 shards, the last one short
    x = emb.astype(np.float32)
    ray.init(address=ray_two_nodes.address)
    try:
        ids, idx, sims = ray_ivf_knn(folder, 10, nprobe=4, tasks=3)
    finally:
        ray.shutdown()
    assert ids == [f"s{r}" for r in range(2500)]
    ref_idx, ref_sims = ivf_knn(x, 10, nprobe=4)
    assert (idx == ref_idx).mean() > 0.999  # the same graph (ties in float arithmetic aside)
    np.testing.assert_allclose(sims, ref_sims, atol=1e-5)
    assert not (idx == np.arange(2500)[:, None]).any()  # self excluded
    exact, _ = exact_knn(x, 10)

    def recall(found):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])

    assert recall(idx) == pytest.approx(recall(ref_idx), abs=1e-3)


def test_sharded_rows_gather_in_any_order(tmp_path):
    emb = _long_tailed(300, 8)
    _write_folder(tmp_path / "e", emb, shard_size=64)
    rows = ShardedRows(tmp_path / "e")
    assert rows.shape == (300, 8)
    pick = np.array([299, 0, 64, 63, 150, 150])
    np.testing.assert_array_equal(rows[pick], emb[pick].astype(np.float32))
    np.testing.assert_array_equal(np.asarray(rows), emb.astype(np.float32))


def test_lists_are_dealt_in_runs_of_about_equal_work():
    cost = np.array([5, 1, 1, 1, 1, 1, 5, 5])
    runs = deal_lists(cost, 3)
    assert [r for run in runs for r in run] == list(range(8))
    assert len(runs) <= 3 and max(cost[list(run)].sum() for run in runs) <= 10
    assert deal_lists(np.array([], dtype=np.int64), 4) == []


def test_sharded_recall_is_recall_at_k(tmp_path):
    from curate.engine.ray_ivf import sharded_recall_at_k
    from curate.graph.neighbors import recall_at_k

    emb = _long_tailed(900, 16, seed=3)
    folder = tmp_path / "embeddings"
    _write_folder(folder, emb, shard_size=250)
    x = emb.astype(np.float32)
    idx, _ = ivf_knn(x, 8, nprobe=2)
    assert sharded_recall_at_k(folder, idx, num_queries=200) == pytest.approx(recall_at_k(x, idx, num_queries=200))


def test_the_neighbors_stage_searches_on_the_cluster(ray_two_nodes, tmp_path):
    """`curate neighbors --engine ray`: the graph the local ivf engine writes, computed as tasks."""
    import pyarrow.parquet as pq

    from curate.embed.importer import import_arrays
    from curate.graph.stage import run_neighbors
    from curate.workspace import Workspace

    emb = _long_tailed(1500, 16, seed=5).astype(np.float32)
    tables = {}
    for engine in ("local", "ray"):
        ws = Workspace(tmp_path / engine)
        import_arrays(ws, emb, np.arange(1500) % 4, shard_size=400)
        summary = run_neighbors(ws, k=10, method="ivf", engine=engine, address=ray_two_nodes.address)
        assert summary["engine"] == engine and summary["method"] == "ivf"
        tables[engine] = (pq.read_table(ws.path("neighbors")), summary["recall_at_k"])
    (local, local_recall), (ray_table, ray_recall) = tables["local"], tables["ray"]
    assert local.column("sample_id").equals(ray_table.column("sample_id"))
    same = np.mean(
        [a == b for a, b in zip(local.column("neighbor_ids").to_pylist(), ray_table.column("neighbor_ids").to_pylist())]
    )
    assert same > 0.99 and ray_recall == pytest.approx(local_recall, abs=0.01)
