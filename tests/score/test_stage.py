import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.embed.importer import import_arrays
from curate.errors import DataError, StaleWorkspaceError
from curate.graph.stage import run_neighbors
from curate.schemas import CLASSES, ISSUES
from curate.score.stage import run_score
from curate.workspace import Workspace


@pytest.fixture
def scored(synthetic_workspace):
    run_neighbors(synthetic_workspace, k=20, device="cpu")
    summary = run_score(synthetic_workspace, device="cpu")
    return synthetic_workspace, summary


def test_issues_and_classes_against_ground_truth(scored, synthetic_small):
    ws, summary = scored
    issues = pq.read_table(ws.path("issues"))
    assert issues.schema.remove_metadata() == ISSUES
    classes = pq.read_table(ws.path("classes"))
    assert classes.schema.remove_metadata() == CLASSES
    assert classes.num_rows == len(synthetic_small.class_names)

    ids = np.array(issues.column("sample_id").to_pylist(), dtype=int)  # join on sample_id
    flagged = np.array(issues.column("is_label_issue").to_pylist())
    truth = synthetic_small.is_noisy[ids]
    tp = (flagged & truth).sum()
    assert tp / flagged.sum() > 0.8 and tp / truth.sum() > 0.7
    assert summary["label_issues"] == flagged.sum()

    exact = synthetic_small.is_exact_duplicate[ids]
    groups = np.array(issues.column("duplicate_group").to_pylist(), dtype=object)
    assert all(g is not None for g in groups[exact])
    assert np.array(issues.column("is_duplicate").to_pylist())[exact].mean() > 0.9

    score = np.array(issues.column("outlier_score").to_pylist())
    outlier = synthetic_small.is_outlier[ids]
    assert score[outlier].mean() < score[~outlier].mean() - 0.3
    suggested = issues.column("suggested_label").to_pylist()
    assert set(s for s in suggested if s is not None) <= set(synthetic_small.class_names)


def test_rerun_skips_and_changed_params_are_refused(scored):
    ws, _ = scored
    again = run_score(ws, device="cpu")
    assert again.pop("timing")["up_to_date"] and again == {"stage": "score", "up_to_date": True}
    before = ws.path("issues").read_bytes()
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        run_score(ws, duplicate_threshold=0.9, device="cpu")
    assert ws.path("issues").read_bytes() == before
    run_score(ws, duplicate_threshold=0.9, device="cpu", overwrite=True)


def test_needs_neighbors_first(synthetic_workspace):
    with pytest.raises(DataError, match="curate neighbors"):
        run_score(synthetic_workspace, device="cpu")


def test_single_class_and_singleton_class(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((60, 16)).astype(np.float32)
    ws = Workspace(tmp_path / "one")
    import_arrays(ws, emb, np.zeros(60, dtype=int))
    run_neighbors(ws, device="cpu")
    summary = run_score(ws, device="cpu")
    assert summary["label_issues"] == 0 and any("class" in n for n in summary["notes"])

    labels = np.r_[np.zeros(30, int), np.ones(29, int), [2]]  # class 2 has a single sample
    ws2 = Workspace(tmp_path / "singleton")
    import_arrays(ws2, emb, labels)
    run_neighbors(ws2, device="cpu")
    run_score(ws2, device="cpu")
    classes = pq.read_table(ws2.path("classes")).to_pylist()
    assert [c["count"] for c in classes] == [30, 29, 1]
