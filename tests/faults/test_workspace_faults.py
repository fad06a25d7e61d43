"""What a user sees when the workspace is raced, damaged, read-only or full: one line on stderr,
exit 1, and every artifact written before left intact."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def arrays(tmp_path, synthetic_small):
    """(embeddings .npy, labels .npy) of the small synthetic set."""
    np.save(tmp_path / "e.npy", synthetic_small.embeddings.astype(np.float16))
    np.save(tmp_path / "l.npy", synthetic_small.labels.astype(np.int32))
    return tmp_path / "e.npy", tmp_path / "l.npy"


def scan_arrays(arrays, ws, *extra):
    return invoke("scan", "--embeddings", arrays[0], "--labels", arrays[1], "-o", ws, "-q", *extra)


def one_error_line(result) -> str:
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    return result.stderr.strip()


_HOLD = """
import sys, time
from curate.workspace import Workspace
with Workspace(sys.argv[1]).lock(create=True):
    print("held", flush=True)
    time.sleep(60)
"""


def test_item1_a_second_writer_is_refused_in_one_line(tmp_path, arrays, monkeypatch):
    """Two runs into one workspace: the second refuses instead of mixing its data in."""
    monkeypatch.setattr("curate.progress._quiet", False)  # an earlier -q in this process set it
    ws = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(ws)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = invoke("scan", "--embeddings", arrays[0], "--labels", arrays[1], "-o", ws, "--overwrite")
        assert result.exit_code == 1
        assert one_error_line(result).startswith(f"Error: workspace {ws} is in use by pid {holder.pid} on ")
        assert not (ws / "samples.parquet").exists()
    finally:
        holder.kill()
        holder.wait()
    result = invoke("scan", "--embeddings", arrays[0], "--labels", arrays[1], "-o", ws)
    assert result.exit_code == 0, result.output  # the holder was killed: its lock is taken over
    assert f"taking over the lock of pid {holder.pid}" in result.stderr


@pytest.fixture
def scanned(tmp_path, arrays):
    ws = tmp_path / "ws"
    assert scan_arrays(arrays, ws).exit_code == 0
    return ws


def test_item2_a_truncated_artifact_is_named_and_scan_rebuilds_it(scanned, arrays):
    manifest = pq.read_table(scanned / "manifest.parquet")
    path = scanned / "neighbors.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    result = invoke("score", scanned, "--overwrite")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        f"Error: {path} is damaged (ArrowInvalid: Parquet magic bytes not found in footer. Either the file is "
        f"corrupted or this is not a parquet file.); delete {path} and re-run `curate neighbors` (or `curate scan`)"
    )

    result = scan_arrays(arrays, scanned)
    assert result.exit_code == 0, result.output
    assert pq.read_table(scanned / "manifest.parquet").equals(manifest)


def test_enospc_is_one_line_and_keeps_earlier_artifacts(scanned, monkeypatch):
    before = {p.name: p.read_bytes() for p in scanned.iterdir() if p.is_file()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pyarrow.parquet.write_table", full)
    result = invoke("propose", scanned, "--strategy", "sqrt", "--overwrite")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        f"Error: cannot write {scanned / 'plan.parquet'}: No space left on device; "
        "free some space, then re-run: finished work is kept"
    )
    assert {p.name: p.read_bytes() for p in scanned.iterdir() if p.is_file()} == before
    assert not [p for p in scanned.iterdir() if p.name.endswith(".tmp")]


def test_a_read_only_workspace_is_one_line_and_a_no_op_still_works(scanned, monkeypatch, arrays):
    before = {p.name: p.read_bytes() for p in scanned.iterdir() if p.is_file()}
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    assert scan_arrays(arrays, scanned).exit_code == 0  # nothing to write: fine
    result = invoke("propose", scanned, "--strategy", "sqrt", "--overwrite")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        f"Error: cannot write {scanned / 'plan.parquet'}: Read-only file system; "
        "write the workspace somewhere writable (-o)"
    )
    assert {p.name: p.read_bytes() for p in scanned.iterdir() if p.is_file()} == before
