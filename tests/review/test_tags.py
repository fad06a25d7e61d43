"""Tag decisions on multi-label data: accept the suggested tag set, or give another one."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.review.apply import apply_decisions
from curate.review.decisions import DecisionFileError
from curate.scan import run_scan
from curate.workspace import Workspace


def test_apply_tag_decisions(tmp_path):
    rng = np.random.default_rng(1)
    n, d, k = 300, 16, 4
    centers = rng.normal(size=(k, d))
    tags = rng.random((n, k)) < 0.3
    tags[np.arange(n), rng.integers(0, k, n)] = True
    emb = (tags @ centers + 0.4 * rng.normal(size=(n, d))).astype(np.float32)
    tags[:30, :] = False
    tags[np.arange(30), 0] = True
    np.save(tmp_path / "E.npy", emb)
    np.save(tmp_path / "Y.npy", tags.astype(np.int8))
    ws = Workspace(tmp_path / "ws")
    run_scan(None, ws, embeddings=str(tmp_path / "E.npy"), labels=str(tmp_path / "Y.npy"))
    plan = pq.read_table(ws.path("plan")).to_pylist()
    proposed = next(r for r in plan if r["suggested_labels"] and r["suggested_labels"] != r["original_labels"])
    kept = next(r for r in plan if r["action"] == "keep" and r["sample_id"] != proposed["sample_id"])
    decisions = tmp_path / "d.csv"
    decisions.write_text(
        f"sample_id,decision,label\n{proposed['sample_id']},accept,\n{kept['sample_id']},relabel,2|3\n"
    )
    apply_decisions(ws, decisions)
    manifest = {r["sample_id"]: r for r in pq.read_table(ws.path("manifest")).to_pylist()}
    assert manifest[proposed["sample_id"]]["labels"] == proposed["suggested_labels"]
    assert manifest[kept["sample_id"]]["labels"] == ["2", "3"]
    assert manifest[kept["sample_id"]]["action"] == "relabel"
    assert manifest[kept["sample_id"]]["original_labels"] == kept["original_labels"]
    assert any(x.startswith("reviewed: relabel to") for x in manifest[kept["sample_id"]]["reasons"])
    bad = tmp_path / "bad.csv"
    bad.write_text(f"sample_id,decision,label\n{kept['sample_id']},relabel,2|nope\n")
    with pytest.raises(DecisionFileError, match="unknown class"):
        apply_decisions(ws, bad)
