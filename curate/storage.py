"""The storage layer: how an artifact is written atomically and how it records what it was made from.

Every artifact is stored as one of four kinds (:data:`StorageKind`), and each kind keeps its
record — ``fingerprint`` (of the stage name, parameters, input fingerprints and curate version),
``inputs`` (the fingerprints of the artifacts it was built from), ``params`` and ``extra`` — in its
own place:

* ``parquet``: in the schema metadata (``curate.fingerprint``, ``curate.inputs``, ...);
* ``shards``:  a folder of Parquet shards (``embeddings/``, laid out by :mod:`curate.embed.store`)
  with the record in ``_meta.json``, written first, and ``_SUCCESS`` written last: the folder
  exists, as an artifact, only once complete;
* ``html``:    ``<meta name="curate-fingerprint">`` and ``<meta name="curate-params">`` (a digest of
  its parameters, :func:`params_digest`) tags in the page's head;
* ``json``:    no record inside; its fingerprint is a digest of its content.

:func:`artifact_exists` and :func:`read_record` answer for any kind, so the workspace never asks
which artifact it holds. All writes go to a temporary name beside the target and are renamed into
place, so an interrupted stage never leaves half an artifact; files get the mode the umask
allows, like any other file the user writes. A write the disk refuses (full, read-only) raises
:class:`~curate.errors.WorkspaceWriteError` naming the file; a file that cannot be read back
(truncated, overwritten) raises :class:`~curate.errors.DamagedArtifactError` naming it. This
module sits at the bottom of curate: it imports nothing of curate but its version and its error
types, and pyarrow only when a Parquet file is touched (``curate --help`` never pays for it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from curate.errors import DamagedArtifactError, WorkspaceWriteError
from curate.version import __version__

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

#: How an artifact is stored (see the module docstring for where each keeps its record).
StorageKind = Literal["parquet", "shards", "json", "html"]

#: kinds whose record holds the parameters the artifact was made with (summary.json lists them)
KINDS_WITH_PARAMS: frozenset[str] = frozenset({"parquet", "shards"})

META_FINGERPRINT = b"curate.fingerprint"
META_INPUTS = b"curate.inputs"
META_PARAMS = b"curate.params"
META_EXTRA = b"curate.extra"

#: a sharded folder's record, written before the first shard
SHARDS_META = "_meta.json"
#: a sharded folder's completion marker, written after the last shard
SHARDS_COMPLETE = "_SUCCESS"

#: where an HTML artifact carries its fingerprint; searched for in :data:`HTML_HEAD_BYTES` only
HTML_FINGERPRINT_TAG = re.compile(rb'<meta name="curate-fingerprint" content="([0-9a-f]+)">')
HTML_PARAMS_TAG = re.compile(rb'<meta name="curate-params" content="([0-9a-f]+)">')
#: where an HTML artifact carries the parameters themselves, as HTML-escaped JSON
HTML_OPTIONS_TAG = re.compile(rb'<meta name="curate-options" content="([^"]*)">')
HTML_HEAD_BYTES = 4096


def fingerprint(stage: str, params: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    """Hash of a stage's name, parameters, input fingerprints and the curate version.

    ``params`` must be JSON-serialisable; key order does not matter.
    """
    payload = json.dumps(
        {"stage": stage, "params": params, "inputs": dict(inputs), "version": __version__},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def params_digest(params: Mapping[str, Any]) -> str:
    """A digest of parameters alone, for a kind that records a digest rather than the parameters
    (``html``): equal digests mean the same parameters."""
    return hashlib.sha256(json.dumps(dict(params), sort_keys=True, default=str).encode()).hexdigest()[:32]


def content_digest(path: Path) -> str:
    """The fingerprint of an artifact that records none (``json``): a hash of its bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


# -- atomic writes -------------------------------------------------------------------------------


def atomic_path(final: Path) -> Path:
    """A fresh, empty temporary file beside ``final`` (same filesystem, so ``os.replace`` is
    atomic), created with mode 0666 less the umask: the artifact renamed from it is as readable as
    any file the user writes (``tempfile.mkstemp`` would make every artifact 0600)."""
    with writing(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = final.parent / f".{final.name}.{secrets.token_hex(6)}.tmp"
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            return tmp


@contextlib.contextmanager
def writing(final: Path) -> Iterator[None]:
    """Turn the operating system refusing a write of ``final`` (disk full, read-only folder, no
    permission) into one :class:`WorkspaceWriteError` that names the file; what was renamed into
    place before is untouched."""
    try:
        yield
    except WorkspaceWriteError:
        raise
    except OSError as exc:
        raise WorkspaceWriteError(final, exc) from exc


def write_text_atomic(final: Path, text: str) -> None:
    """Write a text file via a temporary name and rename, so readers never see half of it."""
    tmp = atomic_path(final)
    try:
        with writing(final):
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
    """Write ``table`` to ``final`` atomically, with curate's record in the schema metadata."""
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata(
        _with_curate_metadata(table.schema, fingerprint, inputs, params, extra).metadata
    )
    tmp = atomic_path(final)
    try:
        with writing(final):
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
    import pyarrow.parquet as pq

    tmp = atomic_path(final)
    try:
        with writing(final):
            with pq.ParquetWriter(
                tmp, _with_curate_metadata(schema, fingerprint, inputs, params, extra), compression="zstd"
            ) as writer:
                yield writer
            os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


# -- reads that check what they read ------------------------------------------------------------


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn a file that exists but cannot be parsed (a truncated or overwritten Parquet file,
    broken JSON) into a :class:`DamagedArtifactError` naming it. A missing file or a permission
    problem is not damage and passes through unchanged."""
    import pyarrow as pa

    try:
        yield
    except (FileNotFoundError, PermissionError):
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not path.exists():
            raise
        raise DamagedArtifactError(path, _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a Parquet artifact (or the named ``columns``), checked (:func:`reading`)."""
    import pyarrow.parquet as pq

    with reading(path):
        return pq.read_table(path, columns=columns)


def read_json(path: Path) -> Any:
    """Read a JSON artifact, checked (:func:`reading`)."""
    with reading(path):
        return json.loads(path.read_text(encoding="utf-8"))


# -- records, by kind ----------------------------------------------------------------------------


def read_meta(path: Path) -> dict[str, Any]:
    """curate's record of a Parquet file: fingerprint, inputs, params, extra (missing -> absent)."""
    import pyarrow.parquet as pq

    with reading(path):
        raw = pq.read_schema(path).metadata or {}
        return _record_of(raw)


def _record_of(raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    """curate's keys of a Parquet schema's metadata, decoded."""
    out: dict[str, Any] = {}
    if META_FINGERPRINT in raw:
        out["fingerprint"] = raw[META_FINGERPRINT].decode()
    for key, name in ((META_INPUTS, "inputs"), (META_PARAMS, "params"), (META_EXTRA, "extra")):
        if key in raw:
            out[name] = json.loads(raw[key])
    return out


def read_shards_meta(folder: Path) -> dict[str, Any] | None:
    """A sharded folder's record (fingerprint, inputs, params and its layout), or None before
    a run has started writing it."""
    path = folder / SHARDS_META
    if not path.exists():
        return None
    return read_json(path)


def shards_complete(folder: Path) -> bool:
    """Whether every shard of the folder was written (the completion marker exists)."""
    return (folder / SHARDS_COMPLETE).exists()


def html_record(path: Path) -> dict[str, Any]:
    """The ``fingerprint``, ``params_digest`` and ``params`` (the parameters themselves, so that
    the page can be redrawn with them) an HTML artifact carries in its head; each absent when it
    has none (pages written before the parameters were recorded have only the digest)."""
    import html

    with open(path, "rb") as f:
        head = f.read(HTML_HEAD_BYTES)
    tags = {"fingerprint": HTML_FINGERPRINT_TAG, "params_digest": HTML_PARAMS_TAG}
    record: dict[str, Any] = {
        name: match.group(1).decode() for name, tag in tags.items() if (match := tag.search(head))
    }
    if match := HTML_OPTIONS_TAG.search(head):
        try:
            params = json.loads(html.unescape(match.group(1).decode()))
        except (UnicodeDecodeError, json.JSONDecodeError):
            params = None
        if isinstance(params, dict):
            record["params"] = params
    return record


def artifact_exists(path: Path, kind: StorageKind) -> bool:
    """Whether an artifact is there to be read: a sharded folder only once complete."""
    if kind == "shards":
        return shards_complete(path)
    return path.exists()


def read_record(path: Path, kind: StorageKind) -> dict[str, Any]:
    """What an artifact records about how it was made — any of ``fingerprint``, ``inputs``,
    ``params``, ``extra`` its kind keeps — or ``{}`` when nothing was written there yet.

    A sharded folder answers from its record as soon as a run has started (so a resumed run
    recognises its own fingerprint), before it is complete.
    """
    if kind == "shards":
        return read_shards_meta(path) or {}
    if not path.is_file():
        return {}
    if kind == "parquet":
        return read_meta(path)
    if kind == "html":
        return html_record(path)
    return {"fingerprint": content_digest(path)}
