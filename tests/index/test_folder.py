"""ImageFolder indexing on real images (sklearn digits), including broken files and splits."""

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate.data import class_names_of
from curate.errors import DataError
from curate.index import images
from curate.index.stage import run_index
from curate.schemas import SAMPLES
from curate.workspace import Workspace
from tests.fixtures.images import special_images


@pytest.fixture(scope="module")
def digits_indexed(digits_folder, tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("ws_digits"))
    summary = run_index(digits_folder, ws, workers=2)  # through the process pool
    return ws, summary


def test_digits_folder_rows(digits_folder, digits_indexed):
    ws, summary = digits_indexed
    table = pq.read_table(ws.path("samples"))
    assert table.schema.equals(SAMPLES)
    rows = {r["sample_id"]: r for r in table.to_pylist()}
    assert set(rows) == set(digits_folder.labels)  # README.txt ignored, every image-extension file listed
    assert table.column("sample_id").to_pylist() == sorted(rows)
    assert all(rows[s]["label"] == label for s, label in digits_folder.labels.items())
    assert class_names_of(ws.path("samples")) == digits_folder.class_names
    readable = [r for r in rows.values() if r["readable"]]
    assert len(readable) == digits_folder.num_readable == 301
    assert all((r["width"], r["height"]) == (32, 32) and r["error"] is None for r in readable)
    assert all(r["source"] == "folder" and r["member"] is None and r["split"] is None for r in rows.values())
    assert rows["zero/000.png"]["path"] == str(digits_folder.root / "zero" / "000.png")
    assert rows["zero/000.png"]["size_bytes"] == (digits_folder.root / "zero" / "000.png").stat().st_size
    copy, original = digits_folder.duplicates[0]
    assert rows[copy]["hash"] == rows[original]["hash"]
    assert len({r["hash"] for r in readable}) == 300  # only the planted copy collides

    reasons = {s: rows[s]["error"] for s in digits_folder.unreadable}
    assert "empty file" in reasons["seven/empty.jpg"]
    assert "truncated" in reasons["seven/truncated.jpg"]
    assert "not an image" in reasons["three/not_really.png"]
    assert not any(rows[s]["readable"] for s in digits_folder.unreadable)


def test_digits_folder_summary(digits_folder, digits_indexed):
    _, summary = digits_indexed
    assert summary["format"] == "folder"
    assert (summary["num_samples"], summary["num_readable"], summary["num_unreadable"]) == (304, 301, 3)
    assert summary["num_classes"] == 10 and summary["splits"] == {} and summary["num_unlabelled"] == 0
    assert {u["sample_id"] for u in summary["unreadable"]} == set(digits_folder.unreadable)
    assert all(u["path"] and u["reason"] for u in summary["unreadable"])


def test_sample_ids_are_stable_across_reruns_and_worker_counts(digits_folder, digits_indexed, tmp_path):
    ws, _ = digits_indexed
    again = Workspace(tmp_path)
    run_index(digits_folder, again, workers=0)
    first, second = pq.read_table(ws.path("samples")), pq.read_table(again.path("samples"))
    assert first.equals(second)
    assert ws.fingerprint_of("samples") == again.fingerprint_of("samples")


def test_split_layout(digits_split_folder, tmp_path):
    summary = run_index(digits_split_folder, Workspace(tmp_path), workers=0)
    rows = {r["sample_id"]: r for r in pq.read_table(tmp_path / "samples.parquet").to_pylist()}
    assert set(rows) == set(digits_split_folder.labels)
    assert all(rows[s]["split"] == digits_split_folder.splits[s] for s in rows)
    assert all(rows[s]["label"] == digits_split_folder.labels[s] for s in rows)
    assert rows["train/unsorted.png"]["label"] is None
    assert summary["splits"] == {"train": 51, "val": 21}
    assert summary["num_classes"] == 10 and summary["num_unlabelled"] == 1
    assert class_names_of(tmp_path / "samples.parquet") == digits_split_folder.class_names
    copy, original = digits_split_folder.duplicates[0]
    assert rows[copy]["hash"] == rows[original]["hash"]


def test_mixed_folder_names_are_classes_not_splits(tmp_path):
    data = tmp_path / "data"
    for folder in ("test", "cat"):  # "test" alone does not make a split layout
        (data / folder).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(data / folder / "a.png")
    summary = run_index(data, Workspace(tmp_path / "ws"), workers=0)
    rows = pq.read_table(tmp_path / "ws" / "samples.parquet").to_pylist()
    assert [(r["label"], r["split"]) for r in rows] == [("cat", None), ("test", None)]
    assert summary["splits"] == {}


def test_images_at_the_top_are_unlabelled_and_subfolders_belong_to_their_class(tmp_path):
    data = tmp_path / "data"
    (data / "dog" / "puppies").mkdir(parents=True)
    (data / ".cache").mkdir()
    Image.new("RGB", (4, 4)).save(data / "loose.PNG")
    Image.new("RGB", (4, 4)).save(data / "dog" / "puppies" / "p.jpg")
    Image.new("RGB", (4, 4)).save(data / ".cache" / "thumb.png")
    (data / "dog" / ".DS_Store").write_bytes(b"\0")
    run_index(data, Workspace(tmp_path / "ws"), workers=0)
    rows = pq.read_table(tmp_path / "ws" / "samples.parquet").to_pylist()
    assert [(r["sample_id"], r["label"]) for r in rows] == [("dog/puppies/p.jpg", "dog"), ("loose.PNG", None)]
    assert class_names_of(tmp_path / "ws" / "samples.parquet") == ["dog"]


def test_every_special_mode_is_readable_with_displayed_size(tmp_path):
    data = tmp_path / "data" / "odd"
    data.mkdir(parents=True)
    files = special_images()
    for name, (payload, _) in files.items():
        (data / name).write_bytes(payload)
    summary = run_index(tmp_path / "data", Workspace(tmp_path / "ws"), workers=0)
    assert summary["num_unreadable"] == 0
    rows = {r["sample_id"]: r for r in pq.read_table(tmp_path / "ws" / "samples.parquet").to_pylist()}
    sizes = {s: (r["width"], r["height"]) for s, r in rows.items()}
    assert sizes == {f"odd/{name}": size for name, (_, size) in files.items()}


def test_decompression_bomb_is_recorded_not_fatal(tmp_path, monkeypatch):
    data = tmp_path / "data" / "c"
    data.mkdir(parents=True)
    Image.new("RGB", (40, 40)).save(data / "big.png")
    Image.new("RGB", (5, 5)).save(data / "small.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    summary = run_index(tmp_path / "data", Workspace(tmp_path / "ws"), workers=0)  # in-process: sees the patch
    assert summary["num_readable"] == 1
    assert summary["unreadable"][0]["sample_id"] == "c/big.png"
    assert "decompression bomb" in summary["unreadable"][0]["reason"]


def test_all_unreadable_still_writes_samples(tmp_path):
    data = tmp_path / "data" / "c"
    data.mkdir(parents=True)
    (data / "a.jpg").write_bytes(b"")
    (data / "b.png").write_text("nope")
    summary = run_index(tmp_path / "data", Workspace(tmp_path / "ws"), workers=0)
    assert summary["num_readable"] == 0 and summary["num_unreadable"] == 2
    assert pq.read_table(tmp_path / "ws" / "samples.parquet").num_rows == 2


def test_folder_without_images_is_a_data_error(tmp_path):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    (tmp_path / "data" / "cat" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no images found in"):
        run_index(tmp_path / "data", Workspace(tmp_path / "ws"))
    assert not (tmp_path / "ws" / "samples.parquet").exists()


def test_copy_of_digits_reindexes_to_the_same_ids(digits_folder, digits_indexed, tmp_path):
    """sample_ids are relative paths: moving the data keeps them (paths and fingerprint change)."""
    ws, _ = digits_indexed
    moved = tmp_path / "moved"
    shutil.copytree(digits_folder.root, moved)
    run_index(moved, Workspace(tmp_path / "ws"), workers=0)
    a = pq.read_table(ws.path("samples"))
    b = pq.read_table(tmp_path / "ws" / "samples.parquet")
    assert a.column("sample_id").equals(b.column("sample_id"))
    assert a.column("hash").equals(b.column("hash"))
    assert np.all(np.char.startswith(np.array(b.column("path").to_pylist()), str(moved)))
