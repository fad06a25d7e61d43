import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.plan.propose import propose
from curate.plan.stage import run_propose
from curate.schemas import PLAN, SAMPLES


def _plan(ws, **kw):
    run_propose(ws, **kw)
    return pq.read_table(ws.path("plan")).to_pydict()


def test_plan_follows_the_rules(scored_workspace, synthetic_small):
    s = synthetic_small
    plan = _plan(scored_workspace)
    assert pq.read_schema(scored_workspace.path("plan")).remove_metadata() == PLAN
    action = np.array(plan["action"])
    n = len(s.labels)
    assert len(action) == n and plan["sample_id"] == [str(i) for i in range(n)]

    exact_copies = np.flatnonzero(s.is_exact_duplicate)
    assert (action[exact_copies] == "drop").all()
    i = exact_copies[0]
    assert f"exact duplicate of {s.duplicate_group[i]}" in plan["reasons"][i]
    assert np.array(plan["weight"])[exact_copies].max() == 0.0

    relabel = np.flatnonzero(action == "relabel")
    assert len(relabel) > 20
    assert s.is_noisy[relabel].all()
    assert (
        np.array(plan["label"], dtype=object)[relabel] == np.array(s.class_names)[s.true_labels[relabel]]
    ).mean() > 0.95
    assert all(plan["original_label"][i] == s.class_names[s.labels[i]] for i in relabel)
    assert any(r.startswith("label issue: given ") and r.endswith(")") for r in plan["reasons"][relabel[0]])

    review = np.flatnonzero(action == "review")
    low_conf = [i for i in review if any("probability below 0.95" in r for r in plan["reasons"][i])]
    vote = [i for i in review if any("neighbours vote" in r for r in plan["reasons"][i])]
    assert low_conf and vote  # both guards fire on this data
    assert (action[s.is_outlier] == "review").all()
    assert any(r.startswith("outlier (score 0.02)") for r in plan["reasons"][np.flatnonzero(s.is_outlier)[0]])

    near_copy = np.flatnonzero((s.duplicate_group >= 0) & ~s.is_exact_duplicate & (np.arange(n) != s.duplicate_group))[
        0
    ]
    assert action[near_copy] != "drop"
    assert any(r == "near-duplicate group of 2: weight / 2" for r in plan["reasons"][near_copy])
    assert plan["weight"][near_copy] == pytest.approx(0.5)
    clean = ~s.is_noisy & (s.duplicate_group < 0) & ~s.is_outlier
    assert set(action[clean]) == {"keep"} and set(np.array(plan["weight"])[clean]) == {1.0}


def test_plan_options(scored_workspace, synthetic_small):
    s = synthetic_small
    plan = _plan(scored_workspace, drop_near_duplicates=True, outliers="drop", relabel_threshold=1.0)
    action = np.array(plan["action"])
    assert (action[s.is_outlier] == "drop").all()
    assert "relabel" not in set(action)
    near_copies = (s.duplicate_group >= 0) & (np.arange(len(s.labels)) != s.duplicate_group)
    assert (action[near_copies] == "drop").all()


def test_cap_undersamples_redundant_first_and_balances(scored_workspace, synthetic_small):
    cap = 150
    plan = _plan(scored_workspace, strategy="cap", cap=cap)
    action = np.array(plan["action"])
    label = np.array(plan["label"], dtype=object)
    weight = np.array(plan["weight"])
    alive = action != "drop"
    counts = {c: int(((label == c) & alive).sum()) for c in synthetic_small.class_names}
    assert max(counts.values()) == cap
    mass = [weight[(label == c) & alive].sum() for c in synthetic_small.class_names]
    assert max(mass) / min(mass) < 2.5  # balanced up to the near-duplicate downweighting
    under = [i for i, r in enumerate(plan["reasons"]) if any(x.startswith("undersampled:") for x in r)]
    assert under and all(action[i] == "drop" for i in under)
    near_copies = np.flatnonzero([any(x.startswith("near duplicate of") for x in r) for r in plan["reasons"]])
    head = synthetic_small.class_names[0]
    head_near = [i for i in near_copies if label[i] == head]
    assert head_near and all(action[i] == "drop" for i in head_near)  # copies go before unique samples


def test_propose_without_issues_and_unreadable():
    samples = pa.table(
        {
            "sample_id": ["a", "b", "c", "d"],
            "path": ["p"] * 4,
            "member": [None] * 4,
            "source": ["folder"] * 4,
            "label": ["x", "x", "y", None],
            "split": [None] * 4,
            "caption": [None] * 4,
            "size_bytes": [1] * 4,
            "width": [1] * 4,
            "height": [1] * 4,
            "hash": [None] * 4,
            "readable": [True, True, False, True],
            "error": [None, None, "truncated", None],
            "image_stats": [None] * 4,
            "file_stat": [None] * 4,
            "labels": [None] * 4,
        },
        schema=SAMPLES,
    )
    plan = propose(samples, class_names=["x", "y"], strategy="inverse").to_pydict()
    assert plan["action"] == ["keep", "keep", "drop", "keep"]
    assert plan["reasons"][2] == ["unreadable: truncated"]
    assert plan["weight"] == [1.0, 1.0, 0.0, 1.0]  # y has no readable sample; unlabelled d keeps 1
    assert plan["label"][3] is None
    with pytest.raises(ValueError, match="needs a cap"):
        propose(samples, class_names=["x", "y"], strategy="cap")


def test_stage_errors(scored_workspace, tmp_path):
    run_propose(scored_workspace)
    assert run_propose(scored_workspace)["skipped"]
    with pytest.raises(StaleWorkspaceError):
        run_propose(scored_workspace, strategy="sqrt")
    with pytest.raises(UsageError, match="strategy"):
        run_propose(scored_workspace, strategy="bogus")
    with pytest.raises(UsageError, match="cap"):
        run_propose(scored_workspace, strategy="cap")
    from curate.workspace import Workspace

    with pytest.raises(UsageError, match="does not exist"):
        run_propose(Workspace(tmp_path / "missing"))
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(DataError, match="curate index"):
        run_propose(Workspace(tmp_path / "empty"))


def test_relabel_typicality_is_the_confirmed_rows_low_quantile_per_class():
    """Per class, the (1 - relabel_threshold) quantile of the outlier scores of the rows labelled
    so that are neither label issues nor outliers; flagged rows do not move it, and a class with
    no confirmed row gets the quantile over all confirmed rows."""
    from curate.plan.propose import relabel_typicality
    from curate.plan.rules import SampleFindings

    def row(label, score, **issues):
        return SampleFindings("s", label, True, None, {"outlier_score": score, **issues})

    cats, dogs = np.linspace(0.5, 1.0, 101), np.linspace(0.9, 1.0, 41)
    confirmed = [row("cat", s) for s in cats] + [row("dog", s) for s in dogs]
    flagged = [
        row("cat", 0.0, is_label_issue=True),
        row("dog", 0.01, is_outlier=True),
        row("bird", 0.2, is_outlier=True),
    ]
    cuts = relabel_typicality(confirmed + flagged, 0.95)
    assert cuts["cat"] == pytest.approx(np.quantile(cats, 0.05))
    assert cuts["dog"] == pytest.approx(np.quantile(dogs, 0.05))
    assert cuts["bird"] == pytest.approx(np.quantile(np.concatenate([cats, dogs]), 0.05))
    assert relabel_typicality(flagged, 0.95) == {}
    assert relabel_typicality([SampleFindings("s", "cat", True, None, {})], 0.95) == {}
