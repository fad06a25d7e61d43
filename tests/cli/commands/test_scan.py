"""`curate scan` end to end: real images with a tiny local-dir model, and user embeddings."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main

CONTRACT_COLUMNS = {
    "sample_id",
    "path",
    "label",
    "original_label",
    "weight",
    "action",
    "reasons",
    "label_quality",
    "is_label_issue",
    "is_duplicate",
    "is_outlier",
    "outlier_score",
    "duplicate_group",
}
ARTIFACTS = [
    "samples.parquet",
    "embeddings/_SUCCESS",
    "neighbors.parquet",
    "issues.parquet",
    "classes.parquet",
    "negatives.parquet",
    "plan.parquet",
    "manifest.parquet",
    "report.html",
    "summary.json",
]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def scanned_images(digits_folder, tiny_clip_dir, tmp_path_factory):
    ws = tmp_path_factory.mktemp("scan") / "ws"
    result = invoke(
        "scan", digits_folder.root, "-o", ws, "--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "--json", "-q"
    )
    return ws, result


def test_scan_images_writes_every_artifact(scanned_images, digits_folder):
    ws, result = scanned_images
    assert result.exit_code == 0, result.output
    for name in ARTIFACTS:
        assert (ws / name).exists(), name
    summary = json.loads(result.stdout)
    assert summary["engine"] == "local"
    assert summary["num_samples"] == 304 and summary["num_classes"] == 10
    unreadable = {u["sample_id"]: u["reason"] for u in summary["unreadable"]}
    assert set(unreadable) == set(digits_folder.unreadable)
    assert all(unreadable.values())
    on_disk = json.loads((ws / "summary.json").read_text())
    for key in (
        "num_samples",
        "num_classes",
        "imbalance_ratio",
        "label_issue_rate",
        "duplicate_rate",
        "outlier_rate",
        "unreadable",
    ):
        assert key in on_disk


def test_scan_manifest_contract(scanned_images, digits_folder):
    ws, _ = scanned_images
    manifest = pq.read_table(ws / "manifest.parquet")
    assert CONTRACT_COLUMNS <= set(manifest.column_names)
    rows = manifest.to_pylist()
    by_id = {r["sample_id"]: r for r in rows}
    assert set(digits_folder.unreadable).isdisjoint({sid for sid, r in by_id.items() if r["weight"] > 0})
    dup, src = digits_folder.duplicates[0]
    assert by_id[dup]["duplicate_group"] is not None
    assert by_id[dup]["duplicate_group"] == by_id[src]["duplicate_group"]
    # exactly one keeper per group (a random tiny model puts many digits in one near group)
    groups: dict[str, list[bool]] = {}
    for r in rows:
        if r["duplicate_group"] is not None and r["sample_id"] not in digits_folder.unreadable:
            groups.setdefault(r["duplicate_group"], []).append(r["is_duplicate"])
    assert groups and all(flags.count(False) == 1 for flags in groups.values())
    for r in rows:
        assert r["action"] in {"keep", "drop", "relabel", "review"}
        assert 0.0 <= r["outlier_score"] <= 1.0
        assert r["label_quality"] is None or 0.0 <= r["label_quality"] <= 1.0


def test_rescan_is_a_noop_and_other_model_is_refused(scanned_images, digits_folder, tiny_clip_checkpoint):
    ws, _ = scanned_images
    before = (ws / "manifest.parquet").read_bytes()
    again = invoke("scan", digits_folder.root, "-o", ws, "--model", f"local-dir:{ws.parent}", "--device", "cpu", "-q")
    assert again.exit_code == 1  # not a model folder: a model error, one line
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    name, checkpoint = tiny_clip_checkpoint
    other = invoke(
        "scan", digits_folder.root, "-o", ws, "--model", name, "--pretrained", checkpoint, "--device", "cpu", "-q"
    )
    assert other.exit_code == 1 and "--overwrite" in other.stderr
    assert (ws / "manifest.parquet").read_bytes() == before  # nothing already written is lost


def test_scan_user_embeddings_then_check(tmp_path, synthetic_small):
    np.save(tmp_path / "e.npy", synthetic_small.embeddings.astype(np.float16))
    np.save(tmp_path / "l.npy", synthetic_small.labels.astype(np.int32))
    ws = tmp_path / "ws"
    result = invoke("scan", "--embeddings", tmp_path / "e.npy", "--labels", tmp_path / "l.npy", "-o", ws, "-q")
    assert result.exit_code == 0, result.output
    assert "label issues" in result.stdout
    manifest = pq.read_table(ws / "manifest.parquet")
    assert manifest.column("sample_id").to_pylist()[:3] == ["0", "1", "2"]
    flagged = np.array(manifest.column("is_label_issue").to_pylist())
    ids = np.array(manifest.column("sample_id").to_pylist(), dtype=int)
    truth = synthetic_small.is_noisy[ids]
    precision = (flagged & truth).sum() / max(flagged.sum(), 1)
    recall = (flagged & truth).sum() / truth.sum()
    assert precision > 0.8 and recall > 0.6, (precision, recall)

    # the near-duplicate cut was read from this space, and the record says so everywhere
    scale = json.loads((ws / "summary.json").read_text())["similarity_scale"]
    assert scale["derived"] and scale["duplicate_radius"] == 0.13
    assert scale["duplicate_threshold"] == pytest.approx(1 - 0.13 * scale["median_nn_distance"])
    assert "derived from this embedding space" in (ws / "report.html").read_text()

    assert invoke("check", ws, "--max-label-issues", "0.5", "--max-duplicates", "0.5").exit_code == 0
    failed = invoke("check", ws, "--max-label-issues", "0.01", "--max-imbalance-ratio", "2")
    assert failed.exit_code == 1
    assert "label" in failed.output and "imbalance" in failed.output

    # a reviewer's decisions given to the scan: recorded after propose, honoured, counted, gated on
    assert invoke("check", ws, "--max-unreviewed", "0.5").exit_code == 1  # nothing reviewed yet
    plan = pq.read_table(ws / "plan.parquet").to_pylist()
    proposed = [r for r in plan if r["action"] in ("relabel", "review") and r["suggested_action"] == "relabel"][:2]
    (tmp_path / "d.csv").write_text(
        "sample_id,decision,label\n" + f"{proposed[0]['sample_id']},accept,\n{proposed[1]['sample_id']},drop,\n"
    )
    args = ["scan", "--embeddings", tmp_path / "e.npy", "--labels", tmp_path / "l.npy", "-o", ws]
    result = invoke(*args, "--decisions", tmp_path / "d.csv", "-q")
    assert result.exit_code == 0, result.output
    review = json.loads((ws / "summary.json").read_text())["review"]
    assert (review["reviewed"], review["accepted"], review["overruled"]) == (2, 1, 1)
    assert f"review: 2 of {review['proposals']} proposals decided (1 accepted, 1 overruled)" in result.stdout
    decided = {r["sample_id"]: r for r in pq.read_table(ws / "manifest.parquet").to_pylist()}
    assert decided[proposed[0]["sample_id"]]["label"] == proposed[0]["suggested_label"]
    assert decided[proposed[1]["sample_id"]]["weight"] == 0.0
    assert invoke("check", ws, "--max-unreviewed", "1").exit_code == 0
    gate = invoke("check", ws, "--max-unreviewed", "0.0")
    assert gate.exit_code == 1 and "unreviewed_rate" in gate.stderr


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["-o", "WS"], 2, "DATA"),
        (["DATA", "--embeddings", "E", "-o", "WS"], 2, "not both"),
        (["MISSING", "-o", "WS"], 2, "does not exist"),
        (["EMPTY", "-o", "WS"], 1, "no images"),
        (["--embeddings", "MISSING.npy", "-o", "WS"], 2, "does not exist"),
    ],
)
def test_scan_bad_input_is_one_line(tmp_path, args, code, message):
    (tmp_path / "EMPTY").mkdir()
    (tmp_path / "DATA").mkdir()
    np.save(tmp_path / "E", np.ones((3, 2)))
    resolved = [str(tmp_path / a) if a in {"WS", "DATA", "MISSING", "EMPTY", "MISSING.npy", "E"} else a for a in args]
    resolved = [r + ".npy" if r.endswith("/E") else r for r in resolved]
    result = invoke("scan", *resolved, "-q")  # -q: no "[scan] index" progress note before the error
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_scan_one_class_and_unlabelled(tmp_path, digits_folder, tiny_clip_dir):
    data = tmp_path / "one"
    shutil.copytree(digits_folder.root / "four", data / "four")
    result = invoke(
        "scan", data, "-o", tmp_path / "ws", "--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "--json", "-q"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["num_classes"] == 1

    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((digits_folder.root / "five").glob("0*.png"))[:12]:
        shutil.copy(p, flat / p.name)
    result = invoke(
        "scan", flat, "-o", tmp_path / "ws2", "--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "--json", "-q"
    )
    assert result.exit_code == 0, result.output
    manifest = pq.read_table(tmp_path / "ws2" / "manifest.parquet")
    assert manifest.column("label").null_count == 12


def test_scan_example_reports_the_planted_truth(tmp_path, tiny_clip_dir):
    ws = tmp_path / "ws"
    model = ["--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "--workers", "0"]
    result = invoke("scan", "--example", "digits", "-o", ws, *model, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["num_samples"] == 537  # _truth.json is not a sample
    # nor is it reported as a file of DATA that is not a sample: it lies beside the example's folder
    assert summary["skipped_files"] == [] and summary["num_skipped_files"] == 0
    assert (ws / "example-digits.truth.json").is_file() and not (ws / "example-digits" / "_truth.json").exists()
    found = summary["example"]
    assert found["name"] == "digits" and found["data"] == str(ws / "example-digits")
    for kind, planted in (("label_errors", 25), ("duplicates", 12), ("outliers", 8), ("image_defects", 6)):
        assert found[kind]["planted"] == planted and 0 <= found[kind]["found"] <= planted, found
    assert found["duplicates"]["found"] >= 4  # the JPEG re-encodes are near-identical even to a random model
    assert found["image_defects"]["found"] == 6  # judged on the pictures, not the (random) embedding

    again = invoke("scan", "--example", "digits", "-o", ws, *model, "-q")  # reuses the written example
    assert again.exit_code == 0, again.output
    label, dup, out, img = (found[k] for k in ("label_errors", "duplicates", "outliers", "image_defects"))
    headline = (
        f"example digits: found {label['found']} of 25 planted label errors ({label['flagged']} flagged), "
        f"{dup['found']} of 12 duplicates ({dup['flagged']} flagged), "
        f"{out['found']} of 8 outliers ({out['flagged']} flagged), "
        f"{img['found']} of 6 image defects ({img['flagged']} flagged)"
    )
    assert headline in again.stdout and "up to date: index, embed" in again.stdout
    assert "skipped" not in again.stdout and ".json" not in again.stdout

    both = invoke("scan", tmp_path, "--example", "digits", "-o", ws)
    assert both.exit_code == 2 and "without DATA" in both.stderr and both.stderr.count("\n") == 1


def test_scan_holds_review_back_and_says_how_to_train_on_it(tmp_path, synthetic_small):
    np.save(tmp_path / "e.npy", synthetic_small.embeddings.astype(np.float32))
    np.save(tmp_path / "l.npy", synthetic_small.labels)
    args = ("scan", "--embeddings", tmp_path / "e.npy", "--labels", tmp_path / "l.npy", "-q")
    result = invoke(*args, "-o", tmp_path / "ws")
    assert result.exit_code == 0, result.output
    manifest = pq.read_table(tmp_path / "ws" / "manifest.parquet").to_pydict()
    held = sum(a == "review" for a in manifest["action"])
    assert held and all(w == 0 for w, a in zip(manifest["weight"], manifest["action"]) if a == "review")
    assert f"{held:,} samples held back for review" in result.stdout and "--train-on-review" in result.stdout

    result = invoke(*args, "-o", tmp_path / "ws2", "--train-on-review")
    assert result.exit_code == 0, result.output
    manifest = pq.read_table(tmp_path / "ws2" / "manifest.parquet").to_pydict()
    assert all(w > 0 for w, a in zip(manifest["weight"], manifest["action"]) if a == "review")
    assert "proposed for review are trained on (--train-on-review)" in result.stdout


@pytest.mark.parametrize(
    "model_args, code, message",
    [
        (["--model", "nonsense"], 2, "unknown open_clip model 'nonsense'"),
        (["--model", "ViT-B-32", "--pretrained", "no-such-tag"], 2, "neither a known tag"),
        (["--model", "local-dir:/no/such/folder"], 1, "does not exist"),
    ],
)
def test_a_model_that_cannot_work_is_refused_before_any_image_is_decoded(
    tmp_path, digits_folder, model_args, code, message
):
    result = invoke("scan", digits_folder.root, "-o", tmp_path / "ws", *model_args, "-q")
    assert result.exit_code == code, result.output
    assert message in result.stderr and result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "ws" / "samples.parquet").exists()  # index never ran


def test_evidence_near_chance_is_said_not_acted_on(tmp_path):
    """Vectors that carry nothing of the labels (what a random model gives on photos): the scan
    says its label evidence is near chance instead of showing confident verdicts: nothing is
    relabelled, the label card is not red, the headline and the report say WEAK."""
    from curate.cli.commands.scan import render_summary

    rng = np.random.default_rng(3)
    np.save(tmp_path / "E.npy", rng.standard_normal((400, 16)).astype(np.float32))
    np.save(tmp_path / "L.npy", rng.integers(0, 4, 400))
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        main, ["scan", "--embeddings", str(tmp_path / "E.npy"), "--labels", str(tmp_path / "L.npy"), "-o", str(ws)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((ws / "summary.json").read_text())
    evidence = summary["label_evidence"]
    assert evidence["weak"] and evidence["strength"] < 0.2 and evidence["measured"]
    assert summary["label_evidence_strength"] == evidence["strength"]
    assert summary["actions"]["relabel"] == 0
    assert "label evidence WEAK" in render_summary(summary) and "label evidence WEAK" in result.output
    html = (ws / "report.html").read_text()
    assert "label evidence near chance: not judged" in html and "label evidence WEAK" in html
