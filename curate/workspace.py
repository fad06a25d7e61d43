"""The workspace folder: where stages leave their artifacts and how they detect stale ones.

Every Parquet artifact carries, in its schema metadata, a fingerprint of its inputs and
parameters (``curate.fingerprint``), the fingerprints of the artifacts it was built from
(``curate.inputs``), and the parameters themselves (``curate.params``). A stage computes the
fingerprint it *would* produce before doing any work:

* no artifact yet            -> run;
* same fingerprint           -> up to date, skip (the cache is valid);
* different fingerprint      -> refuse with :class:`StaleWorkspaceError` unless ``overwrite``.

Reading an artifact checks that each input it was built from still has the fingerprint it
had then, so a workspace where ``embeddings/`` was rebuilt but ``neighbors.parquet`` was not is
reported instead of silently mixed. All writes go to a temporary name and are renamed into
place, so an interrupted stage never leaves a half-written artifact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import DataError, StaleWorkspaceError, UsageError

#: artifact name -> file name inside the workspace.
ARTIFACTS: dict[str, str] = {
    "samples": "samples.parquet",
    "embeddings": "embeddings",  # a folder of shards, see curate.embed.store
    "neighbors": "neighbors.parquet",
    "issues": "issues.parquet",
    "classes": "classes.parquet",
    "negatives": "negatives.parquet",
    "batches": "batches.parquet",
    "plan": "plan.parquet",
    "manifest": "manifest.parquet",
    "report": "report.html",
    "summary": "summary.json",
}

#: which CLI command rebuilds an artifact, for error messages.
PRODUCER: dict[str, str] = {
    "samples": "curate index",
    "embeddings": "curate embed",
    "neighbors": "curate neighbors",
    "issues": "curate score",
    "classes": "curate score",
    "negatives": "curate negatives",
    "batches": "curate negatives",
    "plan": "curate propose",
    "manifest": "curate export",
    "report": "curate report",
    "summary": "curate export",
}

META_FINGERPRINT = b"curate.fingerprint"
META_INPUTS = b"curate.inputs"
META_PARAMS = b"curate.params"
META_EXTRA = b"curate.extra"


def _version() -> str:
    from curate import __version__

    return __version__


def fingerprint(stage: str, params: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """Hash of a stage's name, parameters, input fingerprints and the curate version.

    ``params`` must be JSON-serialisable; key order does not matter.
    """
    payload = json.dumps(
        {"stage": stage, "params": params, "inputs": dict(inputs), "version": _version()},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def atomic_path(final: Path) -> Path:
    """A fresh temporary path beside ``final`` (same filesystem, so ``os.replace`` is atomic)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    return Path(tmp)


def write_text_atomic(final: Path, text: str) -> None:
    """Write a text file via a temporary name and rename, so readers never see half of it."""
    tmp = atomic_path(final)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_atomic(
    final: Path,
    table: pa.Table,
    *,
    fingerprint: str | None = None,
    inputs: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``table`` to ``final`` atomically, with curate's metadata in the schema."""
    table = table.replace_schema_metadata(
        _with_curate_metadata(table.schema, fingerprint, inputs, params, extra).metadata
    )
    tmp = atomic_path(final)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _with_curate_metadata(
    schema: pa.Schema,
    fingerprint: str | None,
    inputs: Mapping[str, str] | None,
    params: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
) -> pa.Schema:
    meta = dict(schema.metadata or {})
    if fingerprint is not None:
        meta[META_FINGERPRINT] = fingerprint.encode()
    if inputs is not None:
        meta[META_INPUTS] = json.dumps(dict(inputs), sort_keys=True).encode()
    if params is not None:
        meta[META_PARAMS] = json.dumps(dict(params), sort_keys=True, default=str).encode()
    if extra is not None:
        meta[META_EXTRA] = json.dumps(dict(extra), sort_keys=True, default=str).encode()
    return schema.with_metadata(meta)


@contextlib.contextmanager
def parquet_writer_atomic(
    final: Path,
    schema: pa.Schema,
    *,
    fingerprint: str | None = None,
    inputs: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Iterator[pq.ParquetWriter]:
    """A ParquetWriter for artifacts too large to build as one table: write row groups with
    ``writer.write_table(chunk)``; the file appears at ``final`` only when the block exits
    without an exception (temporary name + rename, like :func:`write_parquet_atomic`)."""
    tmp = atomic_path(final)
    try:
        with pq.ParquetWriter(
            tmp, _with_curate_metadata(schema, fingerprint, inputs, params, extra), compression="zstd"
        ) as writer:
            yield writer
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def read_meta(path: Path) -> dict[str, Any]:
    """curate's metadata of a Parquet file: fingerprint, inputs, params, extra (missing -> absent)."""
    raw = pq.read_schema(path).metadata or {}
    out: dict[str, Any] = {}
    if META_FINGERPRINT in raw:
        out["fingerprint"] = raw[META_FINGERPRINT].decode()
    for key, name in ((META_INPUTS, "inputs"), (META_PARAMS, "params"), (META_EXTRA, "extra")):
        if key in raw:
            out[name] = json.loads(raw[key])
    return out


class Workspace:
    """A workspace folder. Cheap to construct; touches the disk only when asked."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def path(self, artifact: str) -> Path:
        """Path of a named artifact (see :data:`ARTIFACTS`)."""
        try:
            return self.root / ARTIFACTS[artifact]
        except KeyError:
            raise ValueError(f"unknown artifact {artifact!r}") from None

    def exists(self, artifact: str) -> bool:
        if artifact == "embeddings":
            from curate.embed.store import is_complete

            return is_complete(self.path("embeddings"))
        return self.path(artifact).exists()

    def fingerprint_of(self, artifact: str) -> str | None:
        """The fingerprint an existing artifact was written with, or None if it does not exist."""
        if artifact == "embeddings":
            from curate.embed.store import stored_fingerprint

            return stored_fingerprint(self.path("embeddings"))
        path = self.path(artifact)
        if not path.exists():
            return None
        if path.suffix != ".parquet":
            return None
        return read_meta(path).get("fingerprint")

    def require(self, artifact: str) -> Path:
        """Path of an artifact that must exist; a clear error naming the producing command if not."""
        if not self.exists(artifact):
            if not self.root.exists():
                raise UsageError(f"workspace {self.root} does not exist")
            raise DataError(
                f"{ARTIFACTS[artifact]} is missing from {self.root}; run `{PRODUCER[artifact]}` first"
            )
        return self.path(artifact)

    def check_fresh(self, artifact: str) -> None:
        """Refuse an artifact whose recorded inputs no longer match the workspace."""
        path = self.require(artifact)
        if artifact == "embeddings":
            from curate.embed.store import stored_inputs

            recorded = stored_inputs(path)
        else:
            recorded = read_meta(path).get("inputs", {})
        for name, fp in recorded.items():
            current = self.fingerprint_of(name)
            if current is not None and current != fp:
                raise StaleWorkspaceError(
                    f"{ARTIFACTS[artifact]} in {self.root} was built from an older {ARTIFACTS[name]}; "
                    f"re-run `{PRODUCER[artifact]}` with --overwrite"
                )

    def read_table(self, artifact: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read a Parquet artifact after checking it exists and is not stale."""
        self.check_fresh(artifact)
        return pq.read_table(self.path(artifact), columns=list(columns) if columns else None)

    def plan(
        self,
        artifact: str,
        stage: str,
        params: Mapping[str, Any],
        inputs: Sequence[str],
        *,
        overwrite: bool = False,
    ) -> tuple[str, dict[str, str], bool]:
        """Decide whether a stage must run.

        Returns ``(fingerprint, input_fingerprints, up_to_date)``. Raises
        :class:`StaleWorkspaceError` when the artifact exists with another fingerprint and
        ``overwrite`` is false.
        """
        input_fps: dict[str, str] = {}
        for name in inputs:
            self.check_fresh(name)
            fp = self.fingerprint_of(name)
            assert fp is not None  # check_fresh -> require guarantees existence
            input_fps[name] = fp
        fp = fingerprint(stage, params, input_fps)
        existing = self.fingerprint_of(artifact)
        if existing is None:
            return fp, input_fps, False
        if existing == fp:
            return fp, input_fps, True
        if overwrite:
            return fp, input_fps, False
        raise StaleWorkspaceError(
            f"{ARTIFACTS[artifact]} in {self.root} was made from other inputs or parameters; "
            "pass --overwrite to replace it"
        )
