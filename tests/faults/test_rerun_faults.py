"""A re-run that finds everything up to date says so per stage and decodes nothing, yet still
notices a changed file (item 9)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from curate.cli import main
from curate.index.stage import run_index
from curate.stages import STAGE_ORDER
from curate.workspace import Workspace
from tests.fixtures.images import make_digits_folder


@pytest.fixture
def small_folder(tmp_path):
    return make_digits_folder(tmp_path / "data", per_class=3)


def test_a_no_op_scan_says_up_to_date_per_stage_and_decodes_nothing(tmp_path, small_folder, tiny_clip_dir):
    args = ["scan", str(small_folder.root), "-o", str(tmp_path / "ws"), "--model", f"local-dir:{tiny_clip_dir}"]
    args += ["--device", "cpu", "--workers", "0", "--progress", "log"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "decoding" in first.stderr
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "decoding" not in again.stderr and "neighbours:" not in again.stderr, again.stderr
    for stage in STAGE_ORDER:
        assert f"[scan] {stage}: up to date" in again.stderr
    assert "done:" not in again.stdout and f"up to date: {', '.join(STAGE_ORDER)}" in again.stdout


def _bmp(path, value: int) -> None:
    """An 8 x 8 BMP: uncompressed, so every one is the same size whatever its pixels."""
    Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(path)


@pytest.mark.parametrize("change", ["same-size rewrite", "touch"])
def test_a_changed_file_is_still_noticed(tmp_path, change):
    data = tmp_path / "data"
    for c, name in enumerate(("cat", "dog")):
        (data / name).mkdir(parents=True)
        for i in range(3):
            _bmp(data / name / f"{i}.bmp", 40 * c + 10 * i)
    ws = Workspace(tmp_path / "ws")
    run_index(data, ws, workers=0)
    assert run_index(data, ws, workers=0)["up_to_date"]
    target = data / "cat" / "0.bmp"
    st = target.stat()
    if change == "touch":  # same bytes, new mtime: decoded again, found unchanged, still up to date
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert run_index(data, ws, workers=0)["up_to_date"]
        return
    _bmp(target, 200)  # other pixels, same size, and the old mtime put back to hide the write
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size
    summary = run_index(data, ws, workers=0)  # ctime gives the write away: decoded, found changed
    assert (summary["up_to_date"], summary["changed"], summary["decoded"]) == (False, 1, 1)
