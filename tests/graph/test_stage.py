import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
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


def test_cli_neighbors_text_and_json(synthetic_workspace):
    runner = CliRunner()
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--method", "exact"])
    assert res.exit_code == 0, res.output
    assert "k=4" in res.output and "exact" in res.output
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--method", "exact", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["skipped"] is True


def test_cli_missing_workspace_is_usage_error(tmp_path):
    res = CliRunner().invoke(main, ["neighbors", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("Error:") and len(res.output.strip().splitlines()) == 1


def test_cli_workspace_without_embeddings(tmp_path):
    (tmp_path / "ws").mkdir()
    res = CliRunner().invoke(main, ["neighbors", str(tmp_path / "ws")])
    assert res.exit_code == 1
    assert "curate index" in res.output or "curate embed" in res.output


def test_cli_stale_embeddings(synthetic_workspace, synthetic_small):
    runner = CliRunner()
    assert runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "3"]).exit_code == 0
    import_arrays(synthetic_workspace, synthetic_small.embeddings[:500], synthetic_small.labels[:500],
                  class_names=synthetic_small.class_names, overwrite=True)
    data = load_embedded(synthetic_workspace)
    with pytest.raises(StaleWorkspaceError):
        load_neighbors(synthetic_workspace, data.sample_ids)
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "3"])
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "3", "--overwrite"])
    assert res.exit_code == 0 and "500 samples" in res.output


def test_cli_bad_k_is_usage_error(synthetic_workspace):
    res = CliRunner().invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "0"])
    assert res.exit_code == 2


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


def test_cli_nprobe(synthetic_workspace):
    runner = CliRunner()
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "-k", "4", "--method", "ivf", "--nprobe", "2"])
    assert res.exit_code == 0, res.output
    assert "nprobe 2, recall@4" in res.output
    res = runner.invoke(main, ["neighbors", str(synthetic_workspace.root), "--nprobe", "0"])
    assert res.exit_code == 2 and "--nprobe" in res.output
