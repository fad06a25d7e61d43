import json
import re
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.report import collect
from curate.report.stage import run_report
from curate.workspace import Workspace, write_parquet_atomic
from tests.fixtures.report_ws import XSS_CLASS, build_array_workspace

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.I)


def _page(summary) -> str:
    with open(summary["report"], encoding="utf-8") as f:
        return f.read()


def _shown_ids(page: str, section: str) -> list[str]:
    """Sample ids of the tiles in one section of the page, in page order."""
    body = page.split(f'id="{section}"')[1].split("</section>")[0]
    return re.findall(r'<div class="id">([^<]*)</div>', body)


def test_synthetic_workspace_has_every_section_and_escapes_class_names(report_synth_ws):
    summary = run_report(report_synth_ws)
    assert summary["report"] == str(report_synth_ws.path("report"))
    assert all(summary["sections"].values()), summary["sections"]
    assert summary["missing"] == []
    page = _page(summary)
    assert XSS_CLASS not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "onerror=alert(1)>" not in page
    assert not EXTERNAL.search(page)
    assert "http://" not in page and "https://" not in page
    # headline numbers come from summary.json
    assert "1,500" in page and "Label issues" in page
    assert "data:image/svg+xml;base64," in page and "data:image/png;base64," in page


def test_image_workspace_inlines_thumbnails_and_lists_unreadable(report_image_ws):
    summary = run_report(report_image_ws, max_thumbnails=12)
    page = _page(summary)
    assert summary["thumbnails"] > 10
    assert (
        page.count('src="data:image/webp;base64,') + page.count('src="data:image/jpeg;base64,') >= summary["thumbnails"]
    )
    # the corrupt file is listed with its (escaped) reason
    assert "corrupt.png" in page
    assert "corrupt or truncated image: &lt;bad&gt; &amp; more" in page
    # the duplicate copied across train/val is shown first, as a leak
    assert "span more than one split" in page or "spans more than one split" in page
    dup = page[page.index('id="duplicates"') :]
    assert dup.index("split leak") < dup.index("group g11")
    assert not EXTERNAL.search(page)


def test_thumbnail_cap_bounds_each_section(report_image_ws):
    small = run_report(report_image_ws, max_thumbnails=2, output=report_image_ws.root / "small.html")
    large = run_report(report_image_ws, max_thumbnails=48, output=report_image_ws.root / "large.html")
    assert small["thumbnails"] < large["thumbnails"]
    labels = _page(small).split('id="labels"')[1].split("</section>")[0]
    assert labels.count('class="tile') == 2
    none = run_report(report_image_ws, max_thumbnails=0, output=report_image_ws.root / "none.html")
    assert none["thumbnails"] == 0 and 'class="tile' not in _page(none)


def test_only_samples_and_embeddings_says_what_to_run(synthetic_workspace):
    summary = run_report(synthetic_workspace)
    page = _page(summary)
    assert summary["sections"]["embedding_map"] is True
    assert summary["sections"]["labels"] is False
    assert "run `curate score` to see label issues" in page
    assert "run `curate negatives` to see hard negatives" in page
    assert "run `curate propose` to see the proposed rebalancing" in page
    assert len(summary["missing"]) == 4


def test_samples_alone_is_enough(synthetic_workspace):
    shutil.rmtree(synthetic_workspace.path("embeddings"))
    summary = run_report(synthetic_workspace)
    assert "run `curate embed` to see the embedding map" in _page(summary)


def test_stale_artifact_is_named_not_mixed(report_synth_ws):
    path = report_synth_ws.path("samples")
    table = pq.read_table(path)
    meta = table.schema.metadata
    write_parquet_atomic(path, table.replace_schema_metadata(meta), fingerprint="rebuilt")
    page = _page(run_report(report_synth_ws))
    assert "issues.parquet" in page and "was built from an older samples.parquet" in page
    assert "label issues" in page.lower()


def test_missing_workspace_and_samples_are_errors(tmp_path):
    with pytest.raises(UsageError):
        run_report(Workspace(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="curate index"):
        run_report(Workspace(tmp_path / "empty"))


def test_up_to_date_stale_and_overwrite(report_image_ws):
    first = run_report(report_image_ws)
    assert first["up_to_date"] is False
    assert run_report(report_image_ws)["up_to_date"] is True
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        run_report(report_image_ws, thresholds={"max_label_issues": 0.5})
    again = run_report(report_image_ws, thresholds={"max_label_issues": 0.5}, overwrite=True)
    assert again["up_to_date"] is False


def test_bad_parameters_are_usage_errors(report_image_ws):
    with pytest.raises(UsageError, match="unknown threshold"):
        run_report(report_image_ws, thresholds={"max_label_issue": 0.1})
    with pytest.raises(UsageError):
        run_report(report_image_ws, map_method="umap")
    with pytest.raises(UsageError):
        run_report(report_image_ws, max_thumbnails=-1)


def test_cards_are_coloured_against_thresholds(report_synth_ws):
    inputs = collect.read_inputs(report_synth_ws)
    strict = {c["title"]: c["status"] for c in collect.overview(inputs, {"max_label_issues": 0.01})["cards"]}
    loose = {c["title"]: c["status"] for c in collect.overview(inputs, {"max_label_issues": 0.9})["cards"]}
    assert strict["Label issues"] == "fail"
    assert loose["Label issues"] == "ok"
    # close to the limit is a warning
    rate = inputs.summary["label_issue_rate"]
    near = {c["title"]: c["status"] for c in collect.overview(inputs, {"max_label_issues": rate / 0.9})["cards"]}
    assert near["Label issues"] == "warn"


def test_rebalanced_counts_are_plan_weight_sums(report_synth_ws):
    inputs = collect.read_inputs(report_synth_ws)
    section = collect.class_section(inputs)
    labels = np.array(inputs.plan.column("label").to_pylist(), dtype=object)
    weights = inputs.plan.column("weight").to_numpy()
    expected = {n: float(weights[labels == n].sum()) for n in inputs.class_names}
    assert section["has_plan"]
    assert section["after"] == pytest.approx([expected[n] for n in inputs.class_names])


def test_fallbacks_without_summary_or_classes(report_image_ws):
    report_image_ws.path("summary").unlink()
    report_image_ws.path("classes").unlink()
    inputs = collect.read_inputs(report_image_ws)
    cards = {c["title"]: c for c in collect.overview(inputs, {})["cards"]}
    flags = inputs.issues.column("is_label_issue").to_numpy(zero_copy_only=False)
    assert cards["Label issues"]["value"] == f"{100 * flags.mean():.1f}%"
    assert cards["Split leaks"]["value"] == "1"
    assert cards["Unreadable inputs"]["value"] == f"{100 / inputs.samples.num_rows:.1f}%"
    pairs = collect.confused_pairs(inputs)
    assert pairs and sum(p["count"] for p in pairs) == int(flags.sum())


def test_summary_written_by_another_stage_is_read_leniently(report_image_ws):
    path = report_image_ws.path("summary")
    summary = json.loads(path.read_text())
    summary["leaks"] = [{"group": "g10"}, {"group": "g99"}]
    summary["unreadable"] = [{"path": "a<b>.png", "error": "bad & worse"}, "plain/string.png"]
    path.write_text(json.dumps(summary))
    page = _page(run_report(report_image_ws))
    cards = {c["title"]: c for c in collect.overview(collect.read_inputs(report_image_ws), {})["cards"]}
    assert cards["Split leaks"]["value"] == "2"
    assert "a&lt;b&gt;.png" in page and "bad &amp; worse" in page and "plain/string.png" in page


def test_report_on_a_freshly_indexed_folder(tmp_path):
    """The real index stage's samples.parquet alone: unreadable files listed from it, the rest
    of the page says what to run next."""
    from curate.index.stage import run_index
    from tests.fixtures.images import make_digits_folder

    folder = make_digits_folder(tmp_path / "digits", per_class=3)
    ws = Workspace(tmp_path / "ws")
    run_index(folder.root, ws, workers=0)
    page = _page(run_report(ws))
    for rel in folder.unreadable:
        assert rel.split("/")[-1] in page
    assert "run `curate embed` to see the embedding map" in page
    assert "run `curate score` to see label issues" in page
    assert not EXTERNAL.search(page)


def test_duplicate_group_larger_than_shown_keeper_stored_last(tmp_path):
    """More members than a group shows, keeper last in row order: the members shown are the
    keeper and then the lowest sample ids (``"10"`` sorts before ``"2"``), whatever the row
    order. Fetching the first rows but showing the sorted ones raised KeyError here."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(12, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    group = np.full(12, -1, dtype=np.int64)
    group[2:] = 11  # rows 2..11 are one group whose keeper is row 11
    ws = build_array_workspace(
        tmp_path / "ws", emb, ["a"] * 6 + ["b"] * 6, class_names=["a", "b"], duplicate_group=group
    )
    page = _page(run_report(ws))
    assert "10 copies (showing 6) · group g11" in page
    assert _shown_ids(page, "duplicates") == ["11", "10", "2", "3", "4", "5"]
    first_tile = page.split('id="duplicates"')[1].split('<div class="id">')[0]
    assert '<span class="badge">keep</span>' in first_tile


def test_confused_pairs_show_the_counts_of_classes_parquet(tmp_path):
    """classes.parquet lists a pair under both of its classes, each time with both directions'
    count: the report's pair shows that count, not twice it."""
    from curate.scan import run_scan
    from curate.synth import make_dataset

    d = make_dataset(n=400, num_classes=6, dim=32, seed=0)
    np.save(tmp_path / "e.npy", d.embeddings.astype(np.float32))
    np.save(tmp_path / "l.npy", d.labels)
    ws = Workspace(tmp_path / "ws")
    run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy")
    listed = {}
    for row in ws.read_table("classes").to_pylist():
        for other, n in zip(row["confused_with"] or [], row["confused_counts"] or []):
            listed[tuple(sorted((row["class_name"], other)))] = n
    pairs = collect.confused_pairs(collect.read_inputs(ws))
    assert pairs
    for p in pairs:
        assert p["count"] == listed[(p["a"], p["b"])], p


def test_largest_and_smallest_never_name_one_class_twice():
    from curate.data import largest_and_smallest

    assert largest_and_smallest([30, 10, 20], most=3) == ([0], [1])
    assert largest_and_smallest([5], most=3) == ([], [])
    head, tail = largest_and_smallest(list(range(1, 11)), most=3)
    assert head == [9, 8, 7] and tail == [0, 1, 2]


def test_a_gate_that_cannot_fail_is_not_amber():
    assert collect._status(1.0, 1.0, "pct") == "info"  # --max-unreviewed's default, 100% unreviewed
    assert collect._status(0.8, 1.0, "pct") == "info"
    assert collect._status(0.8, 0.9, "pct") == "warn" and collect._status(0.95, 0.9, "pct") == "fail"
    assert collect._status(90.0, 100.0, "ratio") == "warn"


def test_cosines_get_the_decimals_that_tell_them_from_one():
    assert collect.cosine_decimals([0.42, 0.61]) == 2
    assert collect.cosine_decimals([0.9987, 0.9991]) == 5
    assert f"{0.9987:.{collect.cosine_decimals([0.9987])}f}" != "1.00"


def test_review_queue_is_worst_first():
    import pyarrow as pa

    issues = pa.table(
        {
            "sample_id": ["a", "b", "c", "d"],
            "is_label_issue": [True, True, False, False],
            "label_quality": [0.4, 0.05, 0.9, 0.9],
            "is_outlier": [False, False, True, False],
            "outlier_score": [0.9, 0.9, 0.2, 0.9],
        }
    )
    severity = collect.review_severity(issues, ["a", "b", "c", "d"])
    assert list(np.argsort(severity, kind="stable")) == [1, 2, 0, 3]
