import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.errors import DataError, StaleWorkspaceError
from curate.negatives.stage import run_negatives
from curate.schemas import BATCHES, NEGATIVES
from curate.workspace import read_meta


def test_stage_writes_contract_tables(scored_workspace, synthetic_small):
    summary = run_negatives(scored_workspace, num_negatives=4, batch_size=200)
    neg = pq.read_table(scored_workspace.path("negatives"))
    assert neg.schema.remove_metadata() == NEGATIVES
    assert neg.num_rows == len(synthetic_small.labels)
    labels = dict(zip(map(str, range(len(synthetic_small.labels))), synthetic_small.labels))
    for sid, ids, sims in zip(*(neg.column(c).to_pylist() for c in ("sample_id", "negative_ids", "negative_sims"))):
        assert len(ids) == len(sims) <= 4
        assert all(labels[i] != labels[sid] for i in ids)
        assert sims == sorted(sims, reverse=True)
    meta = read_meta(scored_workspace.path("negatives"))
    assert meta["params"]["use_issues"] is True
    assert meta["extra"]["confusion_pairs"]
    batches = pq.read_table(scored_workspace.path("batches"))
    assert batches.schema.remove_metadata() == BATCHES
    assert sorted(batches.column("sample_id").to_pylist()) == sorted(neg.column("sample_id").to_pylist())
    assert summary["num_batches"] == int(np.ceil(neg.num_rows / 200))
    assert run_negatives(scored_workspace, num_negatives=4, batch_size=200)["skipped"]
    with pytest.raises(StaleWorkspaceError):
        run_negatives(scored_workspace, num_negatives=5, batch_size=200)


def test_stage_without_issues_uses_vote(neighbors_workspace):
    run_negatives(neighbors_workspace, num_negatives=3, batch_size=500)
    assert read_meta(neighbors_workspace.path("negatives"))["params"]["use_issues"] is False


def test_stage_needs_neighbors(synthetic_workspace):
    with pytest.raises(DataError, match="curate neighbors"):
        run_negatives(synthetic_workspace)


def test_search_nprobe_is_a_param_only_when_set(scored_workspace):
    from curate.errors import UsageError
    from curate.workspace import read_meta

    run_negatives(scored_workspace, num_negatives=3)
    assert "search_nprobe" not in read_meta(scored_workspace.path("negatives"))["params"]
    run_negatives(scored_workspace, num_negatives=3, search_nprobe=2, overwrite=True)
    assert read_meta(scored_workspace.path("negatives"))["params"]["search_nprobe"] == 2
    with pytest.raises(UsageError, match="search_nprobe"):
        run_negatives(scored_workspace, search_nprobe=0)
