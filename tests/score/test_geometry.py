"""Judgement that holds in tight and diffuse embedding spaces, not only in a CLIP-like one.

``curate.synth`` draws the same kind of ground truth at three spreads: tight (a metric-learning
model: nearest-neighbour cosine ~0.99), CLIP-like and diffuse. A cut fitted to one of them (the
old cosine 0.95) called almost every sample of the tight space a near-duplicate, emptied the kNN
vote and put the whole space in one probe fold; these tests run the real post-embedding chain
(``curate scan --embeddings``) on each and hold it to the planted truth.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from curate.graph.neighbors import exact_knn
from curate.scan import run_scan
from curate.synth import make_dataset
from curate.workspace import Workspace


# Label-F1 floors. A diffuse space is hard for everyone: on these same arrays cleanlab's Datalab
# scores 0.82 at spread 1 and 0.46 at spread 2, curate's scorer 0.88 and 0.54
# (tests/bench/bench_geometries.py runs the two side by side on every geometry).
@pytest.mark.parametrize(
    "spread, label_f1", [(0.1, 0.85), (1.0, 0.85), (2.0, 0.5)], ids=["tight", "clip-like", "diffuse"]
)
def test_scan_reads_the_geometry(tmp_path, spread, label_f1):
    ds = make_dataset(
        2000,
        10,
        dim=64,
        imbalance_ratio=10.0,
        spread=spread,
        seed=3,
        near_duplicate_fraction=0.03,
        exact_duplicate_fraction=0.0,
        outlier_fraction=0.02,
    )
    np.save(tmp_path / "e.npy", ds.embeddings)
    np.save(tmp_path / "l.npy", ds.labels)
    summary = run_scan(None, Workspace(tmp_path / "ws"), embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy")
    issues = pq.read_table(tmp_path / "ws" / "issues.parquet").to_pydict()
    rows = np.array(issues["sample_id"], dtype=int)

    planted_copies = (ds.duplicate_group >= 0).sum() - len(np.unique(ds.duplicate_group[ds.duplicate_group >= 0]))
    assert abs(summary["duplicate_rate"] - planted_copies / len(rows)) <= 0.01, summary["duplicate_rate"]

    member = np.array([g is not None for g in issues["duplicate_group"]])
    truth = (ds.duplicate_group >= 0)[rows]
    assert 2 * (member & truth).sum() / (member.sum() + truth.sum()) >= 0.95

    flagged = np.array(issues["is_label_issue"], dtype=bool)
    noisy = ds.is_noisy[rows]
    f1 = 2 * (flagged & noisy).sum() / (flagged.sum() + noisy.sum())
    assert f1 >= label_f1, f1

    # outliers ranked at least as well as by cleanlab's outlier score (mean cosine distance to the
    # 10 nearest neighbours), less 0.01
    outlier_score = np.array(issues["outlier_score"], dtype=float)
    _, sims = exact_knn(ds.embeddings[rows], 10)
    reference = roc_auc_score(ds.is_outlier[rows], (1 - sims).mean(axis=1))
    assert roc_auc_score(ds.is_outlier[rows], 1 - outlier_score) >= reference - 0.01
    assert summary["outlier_rate"] <= 0.1  # a skewed distance distribution is not a tail of outliers

    scale = summary["similarity_scale"]
    assert scale["derived"] and 0 < scale["duplicate_threshold"] < 1
    recorded = json.loads((tmp_path / "ws" / "summary.json").read_text())["similarity_scale"]
    assert recorded == scale
