"""A scan killed with SIGKILL at random points, then re-run, leaves the same manifest as one
that was never interrupted (item 11): atomic writes, resumable shards and the lock take-over
leave nothing half-made behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curate.scan import run_scan
from curate.workspace import Workspace
from tests.fixtures.images import make_digits_folder

#: seconds after start at which each interrupted run is killed (seeded, so a failure replays)
KILL_AFTER = np.random.default_rng(11).uniform(2.0, 7.0, size=2)

REPO = Path(__file__).resolve().parents[2]


def test_killed_scans_resume_to_the_uninterrupted_manifest(tmp_path, tiny_clip_dir):
    data = make_digits_folder(tmp_path / "data", per_class=4).root
    options = ["--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu", "--workers", "0"]
    run_scan(data, Workspace(tmp_path / "whole"), model=f"local-dir:{tiny_clip_dir}", device="cpu", workers=0)
    expected = pq.read_table(tmp_path / "whole" / "manifest.parquet")

    command = [sys.executable, "-m", "curate", "scan", str(data), "-o", str(tmp_path / "ws"), *options, "-q"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    killed = 0
    for delay in KILL_AFTER:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.communicate(timeout=60)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert killed, "every run finished before its kill: the kill points test nothing"
    got = pq.read_table(tmp_path / "ws" / "manifest.parquet")
    assert got.replace_schema_metadata(None).equals(expected.replace_schema_metadata(None))
