"""Re-scanning a grown or changed folder is incremental and equals a fresh scan.

Only new or changed images are decoded and embedded (embeddings are reused by content hash, so a
renamed file is not embedded again), no --overwrite is needed, and manifest.parquet is the one a
fresh scan of the same folder writes. Another model is still refused without --overwrite.
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
from click.testing import CliRunner
from PIL import Image

from curate.cli import main


def scan(data, ws, model_dir, *extra):
    args = ["scan", data, "-o", ws, "--model", f"local-dir:{model_dir}", "--device", "cpu", "--json", "-q", *extra]
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def manifest(ws):
    return pq.read_table(ws / "manifest.parquet").replace_schema_metadata(None)


def test_rescan_of_a_grown_folder_embeds_only_what_is_new(digits_folder, tiny_clip_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digits_folder.root, data)
    ws = tmp_path / "ws"
    first = scan(data, ws, tiny_clip_dir)
    assert first["changes"] == {
        "added": 304,
        "removed": 0,
        "changed": 0,
        "reused": 0,
        "embedded": 301,
        "embeddings_reused": 0,
    }

    classes = sorted(p for p in data.iterdir() if p.is_dir())
    for n, folder in enumerate(classes):  # ten new images: each class gets a turned copy of a digit
        with Image.open(folder / "010.png") as img:
            img.rotate(90 + 90 * (n % 3)).save(folder / "new.png")
    (classes[1] / "005.png").rename(classes[1] / "renamed.png")  # same bytes, new name
    changed = classes[2] / "003.png"
    with Image.open(changed) as img:
        turned = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    turned.save(changed)

    again = scan(data, ws, tiny_clip_dir)  # no --overwrite: grown data is not "other parameters"
    assert again["changes"] == {
        "added": 11,  # ten new files and the renamed one
        "removed": 1,
        "changed": 1,
        "reused": 302,  # 314 rows less the 12 new, renamed or changed files, none of them decoded
        "embedded": 11,  # the renamed file's vector is reused by content
        "embeddings_reused": 300,
    }
    assert all(not step["up_to_date"] for step in again["steps"])
    on_disk = json.loads((ws / "summary.json").read_text())
    assert on_disk["changes"] == {"added": 11, "removed": 1, "changed": 1, "reused": 302, "decoded": 12}

    fresh = tmp_path / "fresh"
    scan(data, fresh, tiny_clip_dir)
    assert manifest(ws).equals(manifest(fresh))
    assert not (ws / "embeddings" / "carried.parquet").exists()

    noop = scan(data, ws, tiny_clip_dir)
    assert all(step["up_to_date"] for step in noop["steps"])
    assert noop["changes"] == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "reused": 314,
        "embedded": 0,
        "embeddings_reused": 0,
    }


def test_rescan_says_what_changed_since_the_last_scan(digits_folder, tiny_clip_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(digits_folder.root, data)
    ws = tmp_path / "ws"
    first = scan(data, ws, tiny_clip_dir)
    assert "since_last_scan" not in first  # nothing to compare with
    assert "Since last scan" not in (ws / "report.html").read_text()
    before = manifest(ws).to_pydict()

    classes = sorted(p for p in data.iterdir() if p.is_dir())
    for n, folder in enumerate(classes[:3]):  # three new images
        with Image.open(folder / "010.png") as img:
            img.rotate(90 * (n + 1)).save(folder / "new.png")
    moved = classes[4] / "007.png"  # relabelled: a new path under another class
    moved.rename(classes[5] / "moved.png")

    again = scan(data, ws, tiny_clip_dir)
    since = again["since_last_scan"]
    assert json.loads((ws / "summary.json").read_text())["since_last_scan"] == since
    after = manifest(ws).to_pydict()
    old = {sid: (lab, act) for sid, lab, act in zip(before["sample_id"], before["label"], before["action"])}
    new = {sid: (lab, act) for sid, lab, act in zip(after["sample_id"], after["label"], after["action"])}
    both = sorted(old.keys() & new.keys())
    moved_id = f"{classes[5].name}/moved.png"
    assert since["previous_samples"] == len(old)
    assert (since["added"], since["removed"]) == (4, 1)
    assert since["examples"]["added"] == sorted([*(f"{c.name}/new.png" for c in classes[:3]), moved_id])
    assert since["examples"]["removed"] == [f"{classes[4].name}/007.png"]
    assert since["action_changed"] == sum(old[s][1] != new[s][1] for s in both)
    assert since["label_changed"] == sum(old[s][0] != new[s][0] for s in both)
    assert sum(since["transitions"].values()) == since["action_changed"]
    report = (ws / "report.html").read_text()
    assert "Since last scan" in report and moved_id in report
