import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.data import load_embedded
from curate.embed.importer import import_arrays
from curate.errors import StaleWorkspaceError
from curate.graph.neighbors import exact_knn
from curate.graph.stage import load_neighbors, run_neighbors
from curate.workspace import Workspace, read_meta


def test_stage_writes_graph_that_loads_back_aligned(synthetic_workspace):
    summary = run_neighbors(synthetic_workspace, k=7, method="exact")
    assert summary["method"] == "exact" and summary["k"] == 7 and not summary["skipped"]
    path = synthetic_workspace.path("neighbors")
    table = pq.read_table(path)
    assert table.column_names == ["sample_id", "neighbor_ids", "neighbor_sims"]
    data = load_embedded(synthetic_workspace)
    idx, sims = load_neighbors(synthetic_workspace, data.sample_ids)
    ref_idx, ref_sims = exact_knn(data.embeddings, 7)
    assert (idx == ref_idx).mean() > 0.99  # fp16 storage may swap near-ties
    np.testing.assert_allclose(sims, ref_sims, atol=1e-5)
    # aligned by sample_id, not by row order
    shuffled = np.random.default_rng(0).permutation(len(data))
    idx2, _ = load_neighbors(synthetic_workspace, data.sample_ids[shuffled])
    inverse = np.argsort(shuffled)
    np.testing.assert_array_equal(shuffled[idx2[inverse[0]]], idx[0])
    assert run_neighbors(synthetic_workspace, k=7, method="exact")["skipped"]


def test_faiss_stage_reports_recall(synthetic_workspace):
    summary = run_neighbors(synthetic_workspace, k=5, method="faiss")
    assert summary["method"] == "faiss" and 0.5 < summary["recall_at_k"] <= 1.0
    assert summary["recall_queries"] == 1000
    extra = read_meta(synthetic_workspace.path("neighbors"))["extra"]
    assert extra["recall_at_k"] == summary["recall_at_k"]


def test_other_params_refused_without_overwrite(synthetic_workspace):
    run_neighbors(synthetic_workspace, k=5, method="exact")
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        run_neighbors(synthetic_workspace, k=6, method="exact")
    assert run_neighbors(synthetic_workspace, k=6, method="exact", overwrite=True)["k"] == 6


def test_tiny_workspace_k_capped(tmp_path):
    ws = Workspace(tmp_path / "ws")
    import_arrays(ws, np.eye(3, dtype=np.float32), np.array([0, 1, 1]))
    summary = run_neighbors(ws, k=10)
    assert summary["k"] == 2
    idx, _ = load_neighbors(ws, load_embedded(ws).sample_ids)
    assert idx.shape == (3, 2) and not (idx == np.arange(3)[:, None]).any()


def test_nprobe_trades_time_for_recall_and_is_part_of_the_params(synthetic_workspace):
    low = run_neighbors(synthetic_workspace, k=10, method="ivf", nprobe=1)
    assert low["nprobe"] == 1 and read_meta(synthetic_workspace.path("neighbors"))["params"]["nprobe"] == 1
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        run_neighbors(synthetic_workspace, k=10, method="ivf", nprobe=64)
    # every list probed: the ivf engine scans every row, so recall is exact
    full = run_neighbors(synthetic_workspace, k=10, method="ivf", nprobe=10_000, overwrite=True)
    assert full["recall_at_k"] == 1.0 > low["recall_at_k"]


def test_default_nprobe_keeps_earlier_graphs_up_to_date(synthetic_workspace):
    run_neighbors(synthetic_workspace, k=5, method="ivf")
    assert "nprobe" not in read_meta(synthetic_workspace.path("neighbors"))["params"]
    assert run_neighbors(synthetic_workspace, k=5, method="ivf")["skipped"]
