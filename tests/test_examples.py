"""The example dataset: deterministic, planted truth on record, scored against a manifest."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import UsageError
from curate.examples import (
    CLASS_SIZES,
    IMAGE_DEFECTS_PLANTED,
    NUM_DUPLICATES,
    NUM_LABEL_ERRORS,
    NUM_OUTLIERS,
    TRUTH_FILE,
    prepare_example,
    read_truth,
    score_example,
    write_example,
)
from curate.index.folder import list_folder
from curate.index.walk import walk


def digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("example") / "digits"
    return root, write_example("digits", root)


def test_example_is_deterministic_and_truth_matches_the_files(example, tmp_path):
    root, truth = example
    write_example("digits", tmp_path / "again")
    assert digest(tmp_path / "again") == digest(root)
    write_example("digits", tmp_path / "other", seed=1)
    assert digest(tmp_path / "other") != digest(root)

    samples = {c.sample_id: c.label for c in list_folder(walk(str(root)))[0]}  # the truth file is not a sample
    assert len(samples) == truth.num_images == sum(CLASS_SIZES) + NUM_LABEL_ERRORS + NUM_DUPLICATES + NUM_OUTLIERS + 6
    assert (len(truth.label_errors), len(truth.duplicates), len(truth.outliers)) == (25, 12, 8)
    for sid, true_label in truth.label_errors.items():
        assert samples[sid] != true_label
    for pair in truth.duplicates:
        assert samples[pair["copy"]] == samples[pair["original"]]
    assert {p["kind"] for p in truth.duplicates} == {"jpeg", "resized", "cropped"}
    planted = set(truth.label_errors) | set(truth.outliers) | {p["copy"] for p in truth.duplicates}
    assert len(planted) == NUM_LABEL_ERRORS + NUM_DUPLICATES + NUM_OUTLIERS and planted <= set(samples)
    assert sorted(truth.image_defects.values()) == sorted(IMAGE_DEFECTS_PLANTED)
    assert set(truth.image_defects) <= set(samples) and not set(truth.image_defects) & planted
    assert read_truth(root) == truth and json.loads((root / TRUTH_FILE).read_text())["seed"] == 0


def test_prepare_reuses_and_refuses(example, tmp_path):
    root, truth = example
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    assert prepare_example("digits", root) == truth
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before  # nothing rewritten
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.png").write_bytes(b"")
    with pytest.raises(UsageError, match="not empty"):
        prepare_example("digits", tmp_path / "busy")
    with pytest.raises(UsageError, match="unknown example"):
        write_example("cats", tmp_path / "cats")


def test_score_counts_what_the_manifest_flags(example, tmp_path):
    root, truth = example
    ids = [c.sample_id for c in list_folder(walk(str(root)))[0]]
    some_errors = sorted(truth.label_errors)[:10]
    found_pairs = truth.duplicates[:5]
    group = {p["copy"]: f"g{i}" for i, p in enumerate(found_pairs)} | {
        p["original"]: f"g{i}" for i, p in enumerate(found_pairs)
    }
    group[truth.duplicates[5]["copy"]] = "lonely"  # a group without its original: not found
    clean = next(i for i in ids if i not in truth.label_errors and i not in truth.outliers and i not in group)
    table = pa.table(
        {
            "sample_id": ids,
            "is_label_issue": [i in some_errors or i == clean for i in ids],
            "duplicate_group": [group.get(i) for i in ids],
            "is_duplicate": [i in group and i not in {p["original"] for p in found_pairs} for i in ids],
            "is_outlier": [i in truth.outliers[:3] for i in ids],
        }
    )
    pq.write_table(table, tmp_path / "manifest.parquet")
    found = score_example(truth, tmp_path / "manifest.parquet")
    assert found["label_errors"] == {"planted": 25, "found": 10, "flagged": 11}
    assert found["duplicates"] == {"planted": 12, "found": 5, "flagged": 6}
    assert found["outliers"] == {"planted": 8, "found": 3, "flagged": 3}


def test_score_counts_image_defects_of_their_planted_type(example, tmp_path):
    from curate.config import IMAGE_DEFECTS

    root, truth = example
    ids = [c.sample_id for c in list_folder(walk(str(root)))[0]]
    planted = sorted(truth.image_defects)
    wrong_type = {"dark": "light"}  # flagged, but as another defect: not found
    columns: dict[str, list] = {"sample_id": ids}
    for t in IMAGE_DEFECTS:
        columns[f"is_{t}"] = [
            (i in planted[:4] and wrong_type.get(truth.image_defects[i], truth.image_defects[i]) == t)
            or (i == ids[0] and t == "blurry")
            for i in ids
        ]
    pq.write_table(pa.table(columns), tmp_path / "issues.parquet")
    pq.write_table(
        pa.table(
            {"sample_id": ids, "is_label_issue": [False] * len(ids), "duplicate_group": [None] * len(ids)}
            | {"is_duplicate": [False] * len(ids), "is_outlier": [False] * len(ids)}
        ),
        tmp_path / "manifest.parquet",
    )
    found = score_example(truth, tmp_path / "manifest.parquet", tmp_path / "issues.parquet")
    expected = sum(truth.image_defects[i] != "dark" for i in planted[:4])
    assert found["image_defects"] == {"planted": 6, "found": expected, "flagged": 5}
    assert score_example(truth, tmp_path / "manifest.parquet")["image_defects"]["found"] == 0
