"""The seven image-defect types through a real scan: issues.parquet, summary.json, the gate, the
plan and the report (a folder of photo crops with a few planted defects)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter
from sklearn.datasets import load_sample_images

from curate.check import check_workspace
from curate.cli import main
from curate.config import IMAGE_DEFECTS
from curate.workspace import Workspace

PLANTED = {
    "black.jpg": "dark",
    "washed.jpg": "light",
    "blurred.jpg": "blurry",
    "blank.png": "low_information",
    "strip.jpg": "odd_aspect_ratio",
    "icon.png": "odd_size",
    "gray.jpg": "grayscale",
}


@pytest.fixture(scope="module")
def defects_folder(tmp_path_factory):
    """80 random crops of scikit-learn's two sample photos in two classes (below the temple's
    bright sky, whose crops are as pale as a washed-out picture), and one image of each defect
    (``PLANTED``)."""
    root = tmp_path_factory.mktemp("defects")
    rng = np.random.default_rng(0)
    photos = load_sample_images().images

    def crop(w: int, h: int) -> np.ndarray:
        pic = photos[rng.integers(2)]
        y, x = rng.integers(120, pic.shape[0] - h), rng.integers(0, pic.shape[1] - w)
        return pic[y : y + h, x : x + w]

    for i in range(80):
        (root / f"c{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(crop(int(rng.integers(180, 240)), int(rng.integers(150, 200)))).save(
            root / f"c{i % 2}" / f"{i:03d}.jpg", quality=90
        )
    base = crop(200, 160).astype(np.float32)
    strip = photos[0][200:250, 100:500]
    planted = {
        "black.jpg": Image.fromarray((base * 0.05).astype(np.uint8)),
        "washed.jpg": Image.fromarray((base * 0.15 + 217).astype(np.uint8)),
        "blurred.jpg": Image.fromarray(crop(200, 160)).filter(ImageFilter.GaussianBlur(5)),
        "blank.png": Image.new("RGB", (200, 160), (120, 140, 90)),
        "strip.jpg": Image.fromarray(strip),
        "icon.png": Image.fromarray(crop(200, 160)).resize((20, 16)),
        "gray.jpg": Image.fromarray(crop(200, 160)).convert("L"),
    }
    for name, img in planted.items():
        img.save(root / "c0" / name, quality=90)
    # one picture as a PNG and a BMP (other bytes, the same pixels) and a smaller JPEG of it
    twin = Image.fromarray(crop(220, 180))
    twin.save(root / "c1" / "twin.png")
    twin.save(root / "c1" / "twin.bmp")
    twin.resize((160, 130), Image.Resampling.LANCZOS).save(root / "c1" / "twin_small.jpg", quality=80)
    return root


@pytest.fixture(scope="module")
def scanned(defects_folder, tiny_clip_dir, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws")
    args = [
        "scan",
        defects_folder,
        "-o",
        ws,
        "--model",
        f"local-dir:{tiny_clip_dir}",
        "--device",
        "cpu",
        "--json",
        "-q",
    ]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return ws, json.loads(result.stdout)


def test_each_planted_defect_is_flagged_as_its_type_only(scanned):
    ws, _ = scanned
    issues = pq.read_table(ws / "issues.parquet").to_pydict()
    for name in IMAGE_DEFECTS:
        flagged = {sid.split("/")[-1] for sid, f in zip(issues["sample_id"], issues[f"is_{name}"]) if f}
        expected = {file for file, kind in PLANTED.items() if kind == name}
        assert flagged == expected, name
        scores = dict(zip(issues["sample_id"], issues[f"{name}_score"]))
        assert all(0 <= s <= 1 for s in scores.values() if s is not None)
        assert all(scores[f"c0/{file}"] < 0.5 for file in expected)


def test_rates_records_gates_plan_and_report(scanned):
    ws, _ = scanned
    summary = json.loads((ws / "summary.json").read_text())
    issues = pq.read_table(ws / "issues.parquet")
    for name in IMAGE_DEFECTS:
        measured = issues.num_rows - issues.column(f"{name}_score").null_count  # the blank has no sharpness
        assert measured == summary["num_readable"] - (name == "blurry")
        assert summary[f"{name}_rate"] == pytest.approx(1 / measured)
        assert summary["image_defects"][name]["flagged"] == 1
    assert summary["image_defects"]["grayscale"]["source"] == "floor"

    failed = CliRunner().invoke(main, ["check", str(ws), "--max-blurry", "0"])
    assert failed.exit_code == 1 and "blurry" in failed.output
    [result] = check_workspace(Workspace(ws), max_blurry=0.05)
    assert result.passed and result.name == "blurry_rate"

    plan = pq.read_table(ws / "plan.parquet").to_pydict()
    by_id = dict(zip(plan["sample_id"], zip(plan["action"], plan["reasons"])))
    assert by_id["c0/blank.png"][0] == "drop"
    assert any(r.startswith("blank or flat image") for r in by_id["c0/blank.png"][1])
    assert by_id["c0/blurred.jpg"][0] != "keep"
    assert any(r.startswith("blurry image") for r in by_id["c0/blurred.jpg"][1])

    page = (ws / "report.html").read_text()
    for anchor in ("dark", "light", "blurry", "low-information", "odd-aspect-ratio", "odd-size", "grayscale"):
        assert f'id="{anchor}"' in page


def test_copies_in_other_formats_share_one_duplicate_group(scanned):
    ws, _ = scanned
    issues = pq.read_table(ws / "issues.parquet").to_pydict()
    group = dict(zip(issues["sample_id"], issues["duplicate_group"]))
    assert group["c1/twin.png"] is not None
    assert group["c1/twin.png"] == group["c1/twin.bmp"] == group["c1/twin_small.jpg"]
    keep = dict(zip(issues["sample_id"], issues["duplicate_keep"]))
    assert not keep["c1/twin_small.jpg"]  # the larger copy is kept


def test_array_inputs_measure_no_image(tmp_path):
    from curate.scan import run_scan
    from curate.synth import make_dataset

    ds = make_dataset(300, 3, dim=16, seed=1)
    np.save(tmp_path / "e.npy", ds.embeddings)
    np.save(tmp_path / "l.npy", ds.labels)
    summary = run_scan(None, Workspace(tmp_path / "ws"), embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy")
    assert all(summary[f"{name}_rate"] is None for name in IMAGE_DEFECTS)
    assert "array inputs" in summary["not_measured"]["dark_rate"]
