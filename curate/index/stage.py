"""The index stage: list every sample of DATA, decode each once, write ``samples.parquet``.

Readers (one module each) turn DATA into :class:`~curate.index.candidates.Candidate` rows;
:mod:`curate.index.validate` reads and decodes them in parallel; this module picks the reader,
assembles the table (sorted by ``sample_id``) and writes it with a fingerprint over the options
and the content, so re-indexing unchanged data is a no-op and changed data is not silently mixed
into a workspace built from the old. A re-run whose listed files all keep their size, mtime and
ctime (:func:`_listing_digest`, kept in the table's metadata) is not even decoded.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate import progress
from curate.errors import DamagedArtifactError, DataError, UsageError
from curate.index.candidates import Candidate, check_unique, is_image_name, sorted_class_names
from curate.index.folder import list_folder
from curate.index.manifest import MANIFEST_SUFFIXES, list_manifest
from curate.index.parquet import has_image_column, iter_image_bytes, list_parquet, parquet_files
from curate.index.validate import Inspection, Task, inspect_all
from curate.index.webdataset import TAR_SUFFIXES, list_webdataset, tar_files
from curate.schemas import SAMPLES
from curate.stages import STAGES
from curate.workspace import Workspace, write_parquet_atomic

FORMATS = ("folder", "manifest", "parquet", "webdataset")

#: each column option's default (``run_index`` takes None for "not given")
COLUMN_DEFAULTS = {"path_column": "path", "label_column": "label", "split_column": "split", "image_column": "image"}

#: the options that shape each format's rows; giving another is refused (it would be ignored)
_FORMAT_OPTIONS = {
    "folder": (),
    "manifest": ("path_column", "label_column", "split_column"),
    "parquet": ("image_column", "label_column", "split_column"),
    "webdataset": ("label_column",),
}


def _file_format(data: Path, image_column: str) -> str:
    suffix = data.suffix.lower()
    if suffix in TAR_SUFFIXES:
        return "webdataset"
    if suffix == ".parquet":
        return "parquet" if has_image_column(data, image_column) else "manifest"
    if suffix in MANIFEST_SUFFIXES:
        return "manifest"
    if is_image_name(data.name):
        raise UsageError(f"{data} is a single image; give the folder that holds the dataset")
    raise UsageError(
        f"cannot tell what {data} is; DATA is an image folder, a manifest "
        f"({', '.join(sorted(MANIFEST_SUFFIXES))}), Parquet with images, or WebDataset .tar shards"
    )


def _list(
    data: Path, fmt: str, *, path_column: str, label_column: str, split_column: str, image_column: str
) -> tuple[str, list[Candidate], Iterator[bytes | None] | None]:
    """(format, candidates, image bytes in candidate order when the reader streams them)."""
    if fmt == "auto":
        if data.is_file():
            fmt = _file_format(data, image_column)
        else:  # the common case first, and without walking the tree twice
            found = list_folder(data)
            if found:
                return "folder", found, None
            if tar_files(data):
                fmt = "webdataset"
            elif parquet_files(data):
                fmt = "parquet"
            else:
                return "folder", [], None
    if fmt == "folder":
        if not data.is_dir():
            raise UsageError(f"--format folder needs a folder, and {data} is a file")
        return fmt, list_folder(data), None
    if fmt == "manifest":
        if not data.is_file():
            raise UsageError(f"--format manifest needs a manifest file, and {data} is a folder")
        return (
            fmt,
            list_manifest(data, path_column=path_column, label_column=label_column, split_column=split_column),
            None,
        )
    if fmt == "parquet":
        candidates, files = list_parquet(
            data, image_column=image_column, label_column=label_column, split_column=split_column
        )
        return fmt, candidates, iter_image_bytes(files, image_column)
    if fmt == "webdataset":
        return fmt, list_webdataset(data, label_column=label_column), None
    raise UsageError(f"unknown format {fmt!r}; choose auto, {', '.join(FORMATS)}")


def _tasks(candidates: list[Candidate], payloads: Iterator[bytes | None] | None) -> Iterator[Task]:
    for c in candidates:
        if payloads is None:
            yield Task(c.path, c.member, c.source, None, c.error)
            continue
        data = next(payloads)
        yield Task(c.path, c.member, c.source, data, c.error or (None if data else "no image bytes in this row"))


def _listing_digest(candidates: list[Candidate]) -> str:
    """A digest of what the readers listed and of each file's size, mtime and ctime (a file's, or
    its container's): equal only when no listed file was written, touched or replaced since.
    It lets a re-run skip decoding; the content digest, not this, is what the fingerprint holds."""
    stats: dict[str, list[int] | None] = {}
    h = hashlib.blake2b(digest_size=16)
    for c in candidates:
        if c.path not in stats:
            try:
                st = Path(c.path).stat()
            except OSError:
                stats[c.path] = None
            else:
                stats[c.path] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        fields = [c.sample_id, c.path, c.member, c.source, c.label, c.split, c.error, stats[c.path]]
        h.update(json.dumps(fields).encode())
        h.update(b"\n")
    return h.hexdigest()


def _indexed_unchanged(ws: Workspace, settings: dict[str, Any], listing: str) -> pa.Table | None:
    """samples.parquet when it was built with these ``settings`` from this very ``listing``
    (:func:`_listing_digest`) and is up to date: nothing to decode. None otherwise."""
    if not ws.exists("samples"):
        return None
    try:
        record = ws.record("samples")
        if record.get("extra", {}).get("listing") != listing:
            return None
        params = {**settings, "content": record.get("params", {}).get("content")}
        if record.get("params") != params:
            return None
        # overwrite=True: a fingerprint that does not match is "not up to date", never an error here
        _, _, up_to_date = ws.plan("samples", "index", params, STAGES["index"].inputs, overwrite=True)
        return ws.read_table("samples") if up_to_date else None
    except DamagedArtifactError:
        return None  # the decoding path rebuilds it


def _content_digest(rows: list[tuple]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for row in rows:
        h.update(json.dumps(row).encode())
        h.update(b"\n")
    return h.hexdigest()


def run_index(
    data: str | Path,
    ws: Workspace,
    *,
    format: str = "auto",
    path_column: str | None = None,
    label_column: str | None = None,
    split_column: str | None = None,
    image_column: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Index DATA into ``ws/samples.parquet`` (schema :data:`curate.schemas.SAMPLES`).

    DATA is an ImageFolder (``DATA/<class>/<img>``, optionally under split folders), a
    manifest (CSV/TSV/JSONL/JSON/Parquet with ``path_column``), Parquet files with image bytes
    in ``image_column``, or WebDataset ``.tar`` shards; ``format="auto"`` tells them apart.
    A column option left None takes its default (:data:`COLUMN_DEFAULTS`); one given for a
    format that does not read it (``path_column`` for an image folder) is a :class:`UsageError`,
    not silently ignored.
    Every sample is read and decoded once, on ``workers`` processes (default: CPU count, at
    most 8; 0 = in this process): unreadable ones are recorded with a reason, never fatal.
    The class list (sorted unique labels) goes to the table's metadata ``extra.class_names``.

    Re-indexing the same content with the same options leaves the file alone
    (``up_to_date``); different content raises :class:`StaleWorkspaceError` unless
    ``overwrite``. Returns a JSON-serialisable summary: ``format``, ``num_samples``,
    ``num_readable``, ``num_unreadable``, ``num_unlabelled``, ``num_classes``, ``splits``
    ({split: count}), ``unreadable`` ([{sample_id, path, reason}]), ``up_to_date``, ``samples``.
    """
    data = Path(data)
    if not data.exists():
        raise UsageError(f"data path {data} does not exist")
    if ws.root.exists() and not ws.root.is_dir():
        raise UsageError(f"workspace {ws.root} is a file, not a folder")
    if workers is not None and workers < 0:
        raise UsageError(f"workers must be 0 or more, got {workers}")
    if format != "auto" and format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; choose auto, {', '.join(FORMATS)}")
    given = {
        "path_column": path_column,
        "label_column": label_column,
        "split_column": split_column,
        "image_column": image_column,
    }
    options = {name: COLUMN_DEFAULTS[name] if value is None else value for name, value in given.items()}
    fmt, candidates, payloads = _list(data, format, **options)
    ignored = [name for name, value in given.items() if value is not None and name not in _FORMAT_OPTIONS[fmt]]
    if ignored:
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        used = ", ".join("--" + name.replace("_", "-") for name in _FORMAT_OPTIONS[fmt]) or "none of them"
        verb = "does" if len(ignored) == 1 else "do"
        raise UsageError(
            f"{flags} {verb} not apply to {fmt} data ({data}); the column options {fmt} data reads: {used}"
        )
    if not candidates:
        raise DataError(f"no images found in {data}")
    check_unique(candidates, data)
    settings = {"format": fmt, "data": str(data.resolve()), **{k: options[k] for k in _FORMAT_OPTIONS[fmt]}}
    listing = _listing_digest(candidates)
    indexed = _indexed_unchanged(ws, settings, listing)
    if indexed is not None:
        progress.log(f"index: up to date ({len(candidates)} {fmt} samples unchanged since indexed; not decoded)")
        rows = list(zip(*(indexed.column(name).to_pylist() for name in SAMPLES.names)))
        return _summary(fmt, rows, ws.record("samples").get("extra", {}).get("class_names", []), True, ws)
    progress.log(f"decoding {len(candidates)} {fmt} samples from {data}")
    inspections = inspect_all(_tasks(candidates, payloads), total=len(candidates), workers=workers)
    order = sorted(range(len(candidates)), key=lambda i: candidates[i].sample_id)
    rows = [_row(candidates[i], inspections[i]) for i in order]
    columns = list(zip(*rows))
    table = pa.Table.from_arrays(
        [pa.array(columns[i], type=field.type) for i, field in enumerate(SAMPLES)], schema=SAMPLES
    )
    class_names = sorted_class_names(c.label for c in candidates)

    params = {**settings, "content": _content_digest(rows)}
    with ws.lock(create=True):  # the data is read and checked first: a bad DATA leaves no workspace
        fp, _, up_to_date = ws.plan("samples", "index", params, STAGES["index"].inputs, overwrite=overwrite)
        # written even when up to date (same fingerprint): it records the new listing, so the next
        # run of unchanged files skips decoding
        write_parquet_atomic(
            ws.path("samples"),
            table,
            fingerprint=fp,
            inputs={},
            params=params,
            extra={"class_names": class_names, "listing": listing},
        )
    return _summary(fmt, rows, class_names, up_to_date, ws)


def _row(c: Candidate, ins: Inspection) -> tuple:
    """One samples.parquet row, in :data:`SAMPLES` column order."""
    return (
        c.sample_id,
        c.path,
        c.member,
        c.source,
        c.label,
        c.split,
        ins.size_bytes,
        ins.width,
        ins.height,
        ins.hash,
        ins.error is None,
        ins.error,
    )


def _summary(fmt: str, rows: list[tuple], class_names: list[str], up_to_date: bool, ws: Workspace) -> dict[str, Any]:
    col = {name: i for i, name in enumerate(SAMPLES.names)}
    unreadable = [
        {"sample_id": r[col["sample_id"]], "path": r[col["path"]], "reason": r[col["error"]]}
        for r in rows
        if not r[col["readable"]]
    ]
    splits = Counter(r[col["split"]] for r in rows if r[col["split"]] is not None)
    return {
        "format": fmt,
        "num_samples": len(rows),
        "num_readable": len(rows) - len(unreadable),
        "num_unreadable": len(unreadable),
        "num_unlabelled": sum(r[col["label"]] is None for r in rows),
        "num_classes": len(class_names),
        "splits": dict(sorted(splits.items())),
        "unreadable": unreadable,
        "up_to_date": up_to_date,
        "samples": str(ws.path("samples")),
    }
