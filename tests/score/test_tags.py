"""Multi-label data through score, propose and export: tags named missing are added back."""

import json

import numpy as np
import pyarrow.parquet as pq

from curate.scan import run_scan
from curate.workspace import Workspace


def test_multi_label_scan_names_and_restores_missing_tags(tmp_path):
    rng = np.random.default_rng(0)
    n, d, k = 500, 32, 6
    centers = rng.normal(size=(k, d))
    truth = rng.random((n, k)) < 0.25
    truth[np.arange(n), rng.integers(0, k, n)] = True
    emb = (truth.astype(float) @ centers + 0.5 * rng.normal(size=(n, d))).astype(np.float32)
    given = truth.copy()
    planted = rng.choice(n, n // 10, replace=False)
    removed = {}
    for i in planted:
        t = int(np.flatnonzero(truth[i])[0])
        given[i, t] = False
        removed[str(i)] = str(t)
    np.save(tmp_path / "E.npy", emb)
    np.save(tmp_path / "Y.npy", given.astype(np.int8))
    ws = Workspace(tmp_path / "ws")
    summary = run_scan(None, ws, embeddings=str(tmp_path / "E.npy"), labels=str(tmp_path / "Y.npy"))
    assert summary["multi_label"] and summary["num_classes"] == k
    assert summary["imbalance_ratio"] is not None and summary["label_issue_rate"] > 0
    issues = {r["sample_id"]: r for r in pq.read_table(ws.path("issues")).to_pylist()}
    named = [(sid, t) for sid, r in issues.items() for t in r["missing_labels"] or []]
    right = sum(removed.get(sid) == t for sid, t in named)
    assert named and right / len(named) >= 0.8
    assert sum(removed[sid] in (issues[sid]["missing_labels"] or []) for sid in removed) >= len(removed) // 2
    manifest = {r["sample_id"]: r for r in pq.read_table(ws.path("manifest")).to_pylist()}
    retagged = [r for r in manifest.values() if r["labels"] != r["original_labels"]]
    assert retagged and all(r["action"] == "relabel" for r in retagged)
    assert all(any(x.startswith(("missing_tag:", "spurious_tag:")) for x in r["reasons"]) for r in retagged)
    assert sum(removed.get(r["sample_id"]) in r["labels"] for r in retagged) >= 0.8 * len(retagged)
    row = manifest["0"]
    assert row["label"] in row["labels"] or not row["labels"]  # the rarest tag, or null
    classes = pq.read_table(ws.path("classes")).to_pylist()
    assert [c["class_name"] for c in classes] == [str(j) for j in range(k)]
    assert sum(c["missing_count"] for c in classes) == len(named)
    assert classes[0]["co_occurs_with"] and json.loads(ws.path("summary").read_text())["multi_label"]


def test_report_has_a_multi_label_section(tmp_path):
    rng = np.random.default_rng(2)
    n, d, k = 200, 16, 4
    hot = rng.random((n, k)) < 0.3
    hot[np.arange(n), rng.integers(0, k, n)] = True
    emb = (hot @ rng.normal(size=(k, d)) + 0.4 * rng.normal(size=(n, d))).astype(np.float32)
    hot[:15, :] = False
    hot[np.arange(15), 1] = True
    np.save(tmp_path / "E.npy", emb)
    np.save(tmp_path / "Y.npy", hot.astype(np.int8))
    ws = Workspace(tmp_path / "ws")
    run_scan(None, ws, embeddings=str(tmp_path / "E.npy"), labels=str(tmp_path / "Y.npy"))
    html = (tmp_path / "ws" / "report.html").read_text()
    assert "Multi-label tags" in html and "co-occurs with" in html and "Samples with missing or spurious tags" in html
