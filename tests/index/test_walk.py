"""Every file under DATA is a sample or counted as skipped, by extension and reason; formats
Pillow (and pillow-heif) decode are samples and embed; --include / --exclude narrow the walk."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from curate.embed.runner import run_embed
from curate.errors import DataError
from curate.export.stage import run_export
from curate.index.images import image_extensions, unsupported_extensions
from curate.index.stage import run_index
from curate.index.walk import Selection, describe_skipped
from curate.report.stage import run_report
from curate.workspace import Workspace, read_meta


def encoded(fmt: str, colour, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def mixed_folder(tmp_path):
    """phone/ HEIC + AVIF, scans/ JPEG 2000 + a PNG named .dat, and files that are not samples:
    an SVG, a caption, notes without an extension, a hidden file and a hidden folder."""
    data = tmp_path / "data"
    (data / "phone").mkdir(parents=True)
    (data / "scans").mkdir()
    (data / "phone" / "IMG_0001.heic").write_bytes(encoded("HEIF", (200, 40, 40)))
    (data / "phone" / "IMG_0002.avif").write_bytes(encoded("AVIF", (190, 60, 40)))
    (data / "scans" / "page.jp2").write_bytes(encoded("JPEG2000", (30, 30, 200)))
    (data / "scans" / "export.dat").write_bytes(encoded("PNG", (40, 30, 190)))  # an image under another name
    (data / "scans" / "diagram.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (data / "phone" / "caption.txt").write_text("a red photo")
    (data / "scans" / "NOTES").write_text("scanned on a Tuesday")
    (data / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (data / ".thumbs").mkdir()
    (data / ".thumbs" / "a.png").write_bytes(encoded("PNG", (0, 0, 0)))
    return data


def test_heic_avif_and_jpeg2000_are_read(mixed_folder):
    assert {".heic", ".heif", ".avif", ".jp2", ".j2k"} <= image_extensions()
    assert {".svg", ".jxl", ".dng"} <= unsupported_extensions()
    assert not image_extensions() & unsupported_extensions()


def test_every_file_is_a_sample_or_counted(mixed_folder, tmp_path):
    ws = Workspace(tmp_path / "ws")
    summary = run_index(mixed_folder, ws, workers=0)
    samples = {r["sample_id"]: r for r in ws.read_table("samples").to_pylist()}
    assert sorted(samples) == ["phone/IMG_0001.heic", "phone/IMG_0002.avif", "scans/export.dat", "scans/page.jp2"]
    assert all(r["readable"] and (r["width"], r["height"]) == (40, 30) for r in samples.values())
    groups = {(g["extension"], g["reason"]): g for g in summary["skipped_files"]}
    assert {key: g["count"] for key, g in groups.items()} == {
        ("(none)", "hidden"): 1,
        (".png", "hidden"): 1,
        (".svg", "unsupported image format"): 1,
        (".txt", "not an image"): 1,
        ("(none)", "not an image"): 1,
    }
    assert groups[(".svg", "unsupported image format")]["examples"] == ["scans/diagram.svg"]
    assert summary["num_skipped_files"] == 5
    assert read_meta(ws.path("samples"))["extra"]["skipped_files"] == summary["skipped_files"]

    # summary.json and the report carry them too
    exported = run_export(ws)
    assert exported["num_skipped_files"] == 5 and exported["skipped_files"] == summary["skipped_files"]
    assert json.loads(ws.path("summary").read_text())["skipped_files"] == summary["skipped_files"]
    run_report(ws)
    html = ws.path("report").read_text()
    assert "Files not indexed (5)" in html and "scans/diagram.svg" in html and "unsupported image format" in html


def test_new_skipped_file_changes_the_index(mixed_folder, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run_index(mixed_folder, ws, workers=0)
    (mixed_folder / "phone" / "clip.mov").write_bytes(b"\0\0\0\x18ftypqt  ")
    again = run_index(mixed_folder, ws, workers=0)
    assert not again["up_to_date"] and again["decoded"] == 0  # recorded, not decoded again
    assert (".mov", "not an image") in {(g["extension"], g["reason"]) for g in again["skipped_files"]}
    assert again["num_skipped_files"] == 6


def test_heic_and_avif_are_embedded(mixed_folder, tmp_path, tiny_clip_dir):
    ws = Workspace(tmp_path / "ws")
    run_index(mixed_folder, ws, workers=0)
    summary = run_embed(ws, model=f"local-dir:{tiny_clip_dir}", pretrained=None, device="cpu", workers=0)
    assert summary["num_embedded"] == 4 and summary["num_failed"] == 0


def test_include_and_exclude_narrow_the_walk(mixed_folder, tmp_path):
    only_phone = run_index(mixed_folder, Workspace(tmp_path / "a"), include=["phone/*"], workers=0)
    assert only_phone["num_samples"] == 2
    excluded = {g["extension"]: g["count"] for g in only_phone["skipped_files"] if g["reason"].startswith("excluded")}
    assert excluded == {".jp2": 1, ".dat": 1, ".svg": 1, "(none)": 1}
    no_avif = run_index(mixed_folder, Workspace(tmp_path / "b"), exclude=["*.avif", "scans/*"], workers=0)
    assert no_avif["num_samples"] == 1
    assert read_meta(Workspace(tmp_path / "b").path("samples"))["params"]["exclude"] == ["*.avif", "scans/*"]
    with pytest.raises(DataError, match=r"no images found in .*\(9 files skipped: .*excluded"):
        run_index(mixed_folder, Workspace(tmp_path / "c"), include=["*.nothing"], workers=0)


def test_selection_patterns():
    sel = Selection(include=("*.jpg", "train/*"), exclude=("*/raw/*",))
    assert sel.selects("cat/x.jpg") and sel.selects("train/cat/x.png")
    assert not sel.selects("cat/x.png") and not sel.selects("train/raw/x.jpg")
    assert Selection().selects("anything")


def test_describe_skipped_names_the_largest_groups():
    groups = [
        {"extension": ".txt", "reason": "not an image", "count": 3, "examples": []},
        {"extension": ".svg", "reason": "unsupported image format", "count": 1, "examples": []},
    ]
    assert describe_skipped(groups) == "4 files skipped: 3 .txt (not an image), 1 .svg (unsupported image format)"
    assert describe_skipped(groups, limit=1) == "4 files skipped: 3 .txt (not an image), 1 more"
    assert describe_skipped([]) == ""
