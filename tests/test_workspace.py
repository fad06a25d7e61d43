import pyarrow as pa
import pytest

from curate.errors import DataError, StaleWorkspaceError, UsageError
from curate.workspace import Workspace, fingerprint, read_meta, write_parquet_atomic


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
        raise OSError("disk full")

    monkeypatch.setattr("pyarrow.parquet.write_table", boom)
    with pytest.raises(OSError):
        write_parquet_atomic(ws.path("samples"), pa.table({"x": [1]}))
    assert ws.path("samples").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["samples.parquet"]  # no temp files left
