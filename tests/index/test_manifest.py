"""Manifest indexing: CSV / TSV / JSONL / JSON / Parquet tables of paths and labels."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.data import class_names_of
from curate.errors import DataError
from curate.index.stage import run_index
from curate.workspace import Workspace


@pytest.fixture
def manifest_rows(digits_folder):
    """(path as written, label) for 6 digits: relative, absolute, a missing file and a broken one."""
    root = digits_folder.root
    return [
        ("data/zero/000.png", "zero"),
        ("data/zero/001.png", "zero"),
        (str(root / "one" / "000.png"), "one"),
        ("data/two/000.png", "two"),
        ("data/two/missing.png", "two"),
        ("data/seven/truncated.jpg", "seven"),
    ]


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)


def samples(ws):
    return {r["sample_id"]: r for r in pq.read_table(ws.path("samples")).to_pylist()}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_every_manifest_type(suffix, manifest_rows, digits_folder, tmp_path):
    # the manifest sits beside the data folder, so "data/..." is relative to the manifest
    (tmp_path / "data").symlink_to(digits_folder.root)
    path = tmp_path / f"manifest{suffix}"
    if suffix in (".csv", ".tsv"):
        write_csv(path, ["path", "label"], manifest_rows, "\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({"path": p, "label": lab}) + "\n" for p, lab in manifest_rows))
    elif suffix == ".json":
        path.write_text(json.dumps([{"path": p, "label": lab} for p, lab in manifest_rows]))
    else:
        paths, labels = zip(*manifest_rows)
        pq.write_table(pa.table({"path": list(paths), "label": list(labels)}), path)
    ws = Workspace(tmp_path / "ws")
    summary = run_index(path, ws, workers=0)
    assert summary["format"] == "manifest"
    rows = samples(ws)
    assert set(rows) == {p for p, _ in manifest_rows}  # sample_id = the path as written
    assert rows["data/zero/000.png"]["path"] == str(tmp_path / "data" / "zero" / "000.png")
    assert rows["data/zero/000.png"]["readable"] and rows["data/zero/000.png"]["width"] == 32
    assert rows[str(digits_folder.root / "one" / "000.png")]["readable"]
    assert rows["data/two/missing.png"]["error"] == "file not found"
    assert "truncated" in rows["data/seven/truncated.jpg"]["error"]
    assert (summary["num_samples"], summary["num_readable"]) == (6, 4)
    assert class_names_of(ws.path("samples")) == ["one", "seven", "two", "zero"]
    assert all(r["source"] == "manifest" for r in rows.values())


def test_custom_columns_ids_and_splits(digits_folder, tmp_path):
    root = digits_folder.root
    path = tmp_path / "m.csv"
    write_csv(
        path,
        ["id", "file", "cls", "subset"],
        [
            ["a", str(root / "zero" / "000.png"), "0", "train"],
            ["b", str(root / "one" / "000.png"), "1", "val"],
            ["c", str(root / "one" / "001.png"), "", "val"],
        ],
    )
    ws = Workspace(tmp_path / "ws")
    summary = run_index(path, ws, path_column="file", label_column="cls", split_column="subset", workers=0)
    rows = samples(ws)
    assert [(s, r["label"], r["split"]) for s, r in rows.items()] == [
        ("a", "0", "train"),
        ("b", "1", "val"),
        ("c", None, "val"),
    ]
    assert summary["splits"] == {"train": 1, "val": 2} and summary["num_unlabelled"] == 1


def test_no_label_column_means_unlabelled(digits_folder, tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"path": str(digits_folder.root / "zero" / "000.png")}) + "\n")
    summary = run_index(path, Workspace(tmp_path / "ws"), workers=0)
    assert summary["num_classes"] == 0 and summary["num_unlabelled"] == 1


def test_missing_path_column_is_one_clear_error(tmp_path):
    path = tmp_path / "m.csv"
    write_csv(path, ["filename", "label"], [["a.png", "x"]])
    with pytest.raises(DataError, match=r"no path column 'path' \(columns: filename, label\).*--path-column"):
        run_index(path, Workspace(tmp_path / "ws"))
    assert not (tmp_path / "ws").exists()


def test_explicit_label_column_must_exist(tmp_path):
    path = tmp_path / "m.csv"
    write_csv(path, ["path", "label"], [["a.png", "x"]])
    with pytest.raises(DataError, match="no label column 'category'"):
        run_index(path, Workspace(tmp_path / "ws"), label_column="category")


def test_duplicate_sample_ids_are_refused(digits_folder, tmp_path):
    path = tmp_path / "m.csv"
    img = str(digits_folder.root / "zero" / "000.png")
    write_csv(path, ["path", "label"], [[img, "zero"], [img, "zero"]])
    with pytest.raises(DataError, match="more than once"):
        run_index(path, Workspace(tmp_path / "ws"))


def test_empty_paths_are_unreadable(digits_folder, tmp_path):
    path = tmp_path / "m.jsonl"
    lines = [{"path": str(digits_folder.root / "zero" / "000.png")}, {"path": None, "id": "x"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    summary = run_index(path, Workspace(tmp_path / "ws"), workers=0)
    reasons = {u["sample_id"]: u["reason"] for u in summary["unreadable"]}
    assert reasons == {"x": "no path in the manifest row"}


def test_bad_json_line_names_the_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"path": "a.png"}\n{oops\n')
    with pytest.raises(DataError, match="line 2"):
        run_index(path, Workspace(tmp_path / "ws"))


def test_empty_manifest_has_no_images(tmp_path):
    path = tmp_path / "m.csv"
    write_csv(path, ["path", "label"], [])
    with pytest.raises(DataError, match="no images found"):
        run_index(path, Workspace(tmp_path / "ws"))


def test_a_label_spelled_as_number_and_as_text_is_one_class_and_said(digits_folder, tmp_path, capsys):
    root = digits_folder.root
    rows = [
        {"path": str(root / "one" / "000.png"), "label": 1},
        {"path": str(root / "one" / "001.png"), "label": "1"},
        {"path": str(root / "two" / "000.png"), "label": 2},
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    run_index(path, Workspace(tmp_path / "ws"))
    assert class_names_of(tmp_path / "ws" / "samples.parquet") == ["1", "2"]
    assert 'both as a number and as text (1 and "1")' in capsys.readouterr().err
