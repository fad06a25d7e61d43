"""Every stage reports what it cost: wall and CPU time and peak memory, in its summary, in
``curate scan --json`` and (the stages before export) in summary.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.scan import run_scan
from curate.stages import STAGE_ORDER, STAGES
from curate.synth import make_dataset
from curate.timing import TIMINGS_FILE, measure, read_timings
from curate.workspace import Workspace

KEYS = {"seconds", "cpu_seconds", "peak_rss_mib", "peak_scope", "up_to_date", "at"}


@pytest.mark.parametrize("name", STAGE_ORDER)
def test_every_stage_function_is_timed(name):
    function = STAGES[name].function()
    chain = []
    while function is not None:  # the decorators of the stage function, outermost first
        chain.append(function.__code__.co_filename)
        function = getattr(function, "__wrapped__", None)
    assert any(path.endswith("curate/timing.py") for path in chain), name


def test_measure_sees_an_allocation_and_nests():
    with measure() as outer:
        with measure() as inner:
            block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
            block[::512] = 2.0
        del block
    assert inner["seconds"] >= 0 and inner["cpu_seconds"] >= 0
    if inner["peak_scope"] == "stage":  # Linux: the kernel's high-water mark, reset per block
        assert inner["peak_rss_mib"] >= 64
    assert outer["peak_rss_mib"] >= inner["peak_rss_mib"]


def test_scan_reports_each_steps_timing_and_summary_json_keeps_them(tmp_path):
    ds = make_dataset(240, 4, dim=16, imbalance_ratio=2.0, seed=0)
    np.save(tmp_path / "e.npy", ds.embeddings)
    np.save(tmp_path / "l.npy", ds.labels)
    ws = Workspace(tmp_path / "ws")
    summary = run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy", device="cpu")
    ran = ["import", *STAGE_ORDER[2:]]
    assert list(summary["timings"]) == [*ran, "total"]
    for step in summary["steps"]:
        assert set(step["timing"]) == KEYS and step["timing"]["up_to_date"] is False
    total = summary["timings"]["total"]
    assert total["seconds"] >= sum(summary["timings"][s]["seconds"] for s in ran) * 0.99
    assert total["peak_rss_mib"] >= max(summary["timings"][s]["peak_rss_mib"] for s in ran)

    written = json.loads(ws.path("summary").read_text())["timings"]
    before_export = ran[: ran.index("export")]
    assert list(written) == before_export
    assert written == {stage: summary["timings"][stage] for stage in before_export}
    assert set(read_timings(ws)) == set(ran) and (ws.root / TIMINGS_FILE).is_file()

    again = run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy", device="cpu")
    assert all(step["timing"]["up_to_date"] for step in again["steps"])
    # an up-to-date export leaves summary.json as it was: the timings of the run that did the work
    assert json.loads(ws.path("summary").read_text())["timings"] == written
