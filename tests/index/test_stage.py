"""run_index's workspace behaviour: up-to-date re-runs, stale refusal, overwrite, bad arguments."""

import shutil

import pyarrow.parquet as pq
import pytest
from PIL import Image

from curate.errors import StaleWorkspaceError, UsageError
from curate.index.stage import run_index
from curate.pipeline import stage_function, stage_parameters
from curate.workspace import Workspace, read_meta


@pytest.fixture
def small_folder(tmp_path):
    data = tmp_path / "data"
    for label, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (data / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8 + i, 8), colour).save(data / label / f"{i}.png")
    return data


def test_rerun_is_up_to_date_and_does_not_rewrite(small_folder, tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert run_index(small_folder, ws, workers=0)["up_to_date"] is False
    stamp = ws.path("samples").stat().st_mtime_ns
    again = run_index(small_folder, ws, workers=0)
    assert again["up_to_date"] is True and again["num_samples"] == 6
    assert ws.path("samples").stat().st_mtime_ns == stamp
    meta = read_meta(ws.path("samples"))
    assert meta["params"] == {"format": "folder", "data": str(small_folder.resolve())}
    assert meta["extra"]["class_names"] == ["blue", "red"] and len(meta["extra"]["content"]) == 32
    assert meta["inputs"] == {}
    assert {k: again[k] for k in ("added", "removed", "changed", "reused", "decoded")} == {
        "added": 0,
        "removed": 0,
        "changed": 0,
        "reused": 6,
        "decoded": 0,
    }


@pytest.mark.parametrize(
    "change, counts",
    [
        ("new image", {"added": 1, "removed": 0, "changed": 0, "reused": 6, "decoded": 1}),
        ("changed pixels", {"added": 0, "removed": 0, "changed": 1, "reused": 5, "decoded": 1}),
        ("relabelled", {"added": 1, "removed": 1, "changed": 0, "reused": 5, "decoded": 1}),
    ],
)
def test_changed_data_is_reindexed_decoding_only_what_changed(small_folder, tmp_path, change, counts):
    """Grown or changed DATA is not "other parameters": re-indexed without --overwrite, decoding
    only the new and changed files, and equal to a fresh index of the same folder."""
    ws = Workspace(tmp_path / "ws")
    run_index(small_folder, ws, workers=0)
    before = pq.read_table(ws.path("samples"))
    if change == "new image":
        Image.new("RGB", (8, 8)).save(small_folder / "red" / "9.png")
    elif change == "changed pixels":
        Image.new("RGB", (8, 8), (1, 2, 3)).save(small_folder / "red" / "0.png")
    else:
        shutil.move(small_folder / "red" / "0.png", small_folder / "blue" / "moved.png")
    summary = run_index(small_folder, ws, workers=0)
    assert summary["up_to_date"] is False
    assert {k: summary[k] for k in counts} == counts
    after = pq.read_table(ws.path("samples"))
    assert not after.equals(before)
    fresh = Workspace(tmp_path / "fresh")
    run_index(small_folder, fresh, workers=0)
    assert after.equals(pq.read_table(fresh.path("samples")))


def test_other_data_is_refused_until_overwrite(small_folder, tmp_path):
    ws = Workspace(tmp_path / "ws")
    run_index(small_folder, ws, workers=0)
    other = tmp_path / "other"
    shutil.copytree(small_folder, other)
    with pytest.raises(StaleWorkspaceError, match="other parameters; pass --overwrite"):
        run_index(other, ws, workers=0)
    assert run_index(other, ws, workers=0, overwrite=True)["reused"] == 0


def test_options_that_do_not_apply_are_refused(small_folder, tmp_path):
    """Item 6: an option the format would ignore is refused, naming it and what the format reads."""
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(UsageError, match=r"^--path-column, --image-column do not apply to folder data .*: none"):
        run_index(small_folder, ws, workers=0, path_column="file", image_column="img")
    assert not ws.root.exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "csv"}, "unknown format"),
        ({"workers": -1}, "workers"),
        ({"format": "manifest"}, "needs a manifest file"),
    ],
)
def test_bad_arguments_are_usage_errors(small_folder, tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message):
        run_index(small_folder, Workspace(tmp_path / "ws"), **kwargs)


def test_missing_data_and_odd_files_are_usage_errors(small_folder, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        run_index(tmp_path / "nope", Workspace(tmp_path / "ws"))
    with pytest.raises(UsageError, match="single image"):
        run_index(small_folder / "red" / "0.png", Workspace(tmp_path / "ws"))
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(UsageError, match="cannot tell what"):
        run_index(tmp_path / "x.bin", Workspace(tmp_path / "ws"))
    (tmp_path / "file-ws").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        run_index(small_folder, Workspace(tmp_path / "file-ws"))


def test_registered_as_the_index_stage():
    assert stage_function("index") is run_index
    assert set(stage_parameters("index")) == {
        "format",
        "path_column",
        "label_column",
        "split_column",
        "image_column",
        "caption_column",
        "include",
        "exclude",
        "label_separator",
        "multi_label",
        "workers",
    }


def test_relabelling_a_manifest_row_is_a_change_not_a_decode(small_folder, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\ndata/red/0.png,red\n")
    ws = Workspace(tmp_path / "ws")
    run_index(manifest, ws, workers=0)
    manifest.write_text("path,label\ndata/red/0.png,blue\n")  # same sample_id, same bytes, new label
    summary = run_index(manifest, ws, workers=0)
    assert (summary["up_to_date"], summary["changed"], summary["decoded"]) == (False, 1, 0)
    assert pq.read_table(ws.path("samples")).column("label").to_pylist() == ["blue"]


def test_pool_works_from_an_unguarded_script(digits_folder, tmp_path):
    """A user script without ``if __name__ == "__main__"`` must not be re-run by the workers."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "index_it.py"
    script.write_text(
        "import json\n"
        "from curate.index.stage import run_index\n"
        "from curate.workspace import Workspace\n"
        f"s = run_index({str(digits_folder.root)!r}, Workspace({str(tmp_path / 'ws')!r}), workers=2)\n"
        "print(json.dumps(s['num_readable']))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == 301
