import errno
import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from curate.errors import (
    DamagedArtifactError,
    DataError,
    StaleWorkspaceError,
    UsageError,
    WorkspaceBusyError,
    WorkspaceWriteError,
)
from curate.workspace import LOCK_FILE, Workspace, fingerprint, read_meta, write_parquet_atomic, write_text_atomic


def _write(ws: Workspace, artifact: str, stage: str, params: dict, inputs: list[str], value: int = 1) -> str:
    fp, input_fps, fresh = ws.plan(artifact, stage, params, inputs)
    if not fresh:
        write_parquet_atomic(
            ws.path(artifact),
            pa.table({"sample_id": ["a"], "v": [value]}),
            fingerprint=fp,
            inputs=input_fps,
            params=params,
        )
    return fp


def test_fingerprint_is_order_independent_and_param_sensitive():
    assert fingerprint("s", {"a": 1, "b": 2}, {}) == fingerprint("s", {"b": 2, "a": 1}, {})
    assert fingerprint("s", {"a": 1}, {}) != fingerprint("s", {"a": 2}, {})
    assert fingerprint("s", {}, {"x": "1"}) != fingerprint("s", {}, {"x": "2"})


def test_plan_skip_refuse_overwrite(tmp_path):
    ws = Workspace(tmp_path)
    fp = _write(ws, "samples", "index", {"k": 1}, [])
    assert read_meta(ws.path("samples"))["fingerprint"] == fp
    assert ws.plan("samples", "index", {"k": 1}, [])[2] is True
    with pytest.raises(StaleWorkspaceError, match="--overwrite"):
        ws.plan("samples", "index", {"k": 2}, [])
    assert ws.plan("samples", "index", {"k": 2}, [], overwrite=True)[2] is False


def test_changed_inputs_or_data_recompute_without_overwrite(tmp_path):
    """Only other parameters need --overwrite: new input fingerprints or a new data digest
    (the data grew) mean recompute."""
    ws = Workspace(tmp_path)
    _write(ws, "samples", "index", {"k": 1}, [])
    _write(ws, "neighbors", "neighbors", {"k": 5}, ["samples"])
    fp, _, _ = ws.plan("samples", "index", {"k": 1}, [], data="grown")
    assert fp != ws.fingerprint_of("samples")
    write_parquet_atomic(ws.path("samples"), pa.table({"sample_id": ["a"]}), fingerprint=fp, params={"k": 1})
    assert ws.plan("neighbors", "neighbors", {"k": 5}, ["samples"])[2] is False
    with pytest.raises(StaleWorkspaceError, match="other parameters; pass --overwrite"):
        ws.plan("neighbors", "neighbors", {"k": 6}, ["samples"])


def test_downstream_artifact_detects_rebuilt_input(tmp_path):
    ws = Workspace(tmp_path)
    _write(ws, "samples", "index", {"k": 1}, [])
    _write(ws, "neighbors", "neighbors", {}, ["samples"])
    ws.read_table("neighbors")  # fresh
    fp, _, _ = ws.plan("samples", "index", {"k": 2}, [], overwrite=True)
    write_parquet_atomic(ws.path("samples"), pa.table({"sample_id": ["a"]}), fingerprint=fp)
    with pytest.raises(StaleWorkspaceError, match="older samples.parquet"):
        ws.read_table("neighbors")


def test_require_names_the_producing_command(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        Workspace(tmp_path / "nope").require("samples")
    with pytest.raises(DataError, match="curate index"):
        Workspace(tmp_path).require("samples")


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    _write(ws, "samples", "index", {}, [])
    before = ws.path("samples").read_bytes()

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pyarrow.parquet.write_table", boom)
    with pytest.raises(WorkspaceWriteError, match=r"cannot write .*samples.parquet: No space left on device; free"):
        write_parquet_atomic(ws.path("samples"), pa.table({"x": [1]}))
    assert ws.path("samples").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["samples.parquet"]  # no temp files left


# -- item 3: artifacts get the mode the umask allows ----------------------------------------------


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_artifacts_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_parquet_atomic(tmp_path / "a.parquet", pa.table({"x": [1]}))
        write_text_atomic(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {"a.parquet": mode, "b.json": mode}


# -- item 2: a damaged artifact is named, with the command that rebuilds it ----------------------


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_input_is_named_with_what_to_do(tmp_path):
    ws = Workspace(tmp_path)
    _write(ws, "samples", "index", {}, [])
    _truncate(ws.path("samples"))
    with pytest.raises(DamagedArtifactError) as info:
        ws.read_table("samples")
    message = str(info.value)
    assert message.startswith(f"{ws.path('samples')} is damaged (ArrowInvalid: ")
    assert message.endswith(f"delete {ws.path('samples')} and re-run `curate index` (or `curate scan`)")
    assert isinstance(info.value, DataError)  # exit 1
    with pytest.raises(DamagedArtifactError, match="re-run `curate index`"):
        ws.plan("neighbors", "neighbors", {}, ["samples"])  # as an input: refused, named


def test_a_stage_rebuilds_its_own_damaged_output(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("curate.progress._quiet", False)  # an earlier -q in this process set it
    ws = Workspace(tmp_path)
    fp = _write(ws, "samples", "index", {"k": 1}, [])
    _truncate(ws.path("samples"))
    new_fp, _, up_to_date = ws.plan("samples", "index", {"k": 1}, [])
    assert (new_fp, up_to_date) == (fp, False)  # rebuilt, no --overwrite needed
    assert "samples.parquet is damaged" in capsys.readouterr().err


def test_damaged_json_is_named(tmp_path):
    ws = Workspace(tmp_path)
    ws.path("summary").write_text('{"num_samples": 3')
    with pytest.raises(
        DamagedArtifactError, match=r"summary.json is damaged \(JSONDecodeError.*re-run `curate export`"
    ):
        ws.read_json("summary")


# -- item 1: one writer at a time -------------------------------------------------------------------

_HOLD = """
import sys, time
from curate.workspace import Workspace
with Workspace(sys.argv[1]).lock(create=True):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(root):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_and_a_killed_holders_lock_is_taken_over(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("curate.progress._quiet", False)  # an earlier -q in this process set it
    ws = Workspace(tmp_path)
    proc = _holder(tmp_path)
    try:
        with pytest.raises(WorkspaceBusyError, match=rf"workspace {tmp_path} is in use by pid {proc.pid} on "):
            with ws.lock():
                pass
    finally:
        proc.kill()  # SIGKILL: no chance to release anything
        proc.wait()
    with ws.lock():
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"taking over the lock of pid {proc.pid}" in capsys.readouterr().err
    with ws.lock():  # released cleanly: no takeover note this time
        pass
    assert "taking over" not in capsys.readouterr().err


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    ws = Workspace(tmp_path)
    with ws.lock(), Workspace(tmp_path / ".").lock():
        pass


def test_a_read_only_workspace_runs_without_a_lock_and_fails_on_write(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    _write(ws, "samples", "index", {}, [])
    before = ws.path("samples").read_bytes()
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    with ws.lock():
        assert ws.read_table("samples").num_rows == 1  # reading works
        with pytest.raises(WorkspaceWriteError, match=r"cannot write .*samples.parquet: Read-only file system; write"):
            write_parquet_atomic(ws.path("samples"), pa.table({"x": [1]}))
    assert ws.path("samples").read_bytes() == before
