"""Manifest reader: a CSV / TSV / JSONL / JSON / Parquet table of image paths and labels.

* ``path_column`` (default ``path``) is required; relative paths resolve against the
  manifest's folder.
* ``label_column``, ``split_column`` and ``caption_column`` are optional: absent means
  unlabelled / not split / no captions. A column the caller named explicitly (not the default)
  must exist.
* ``sample_id`` is the ``sample_id`` or ``id`` column when there is one, else the path as
  written in the manifest.
* A path may be a URL (``s3://``, ``gs://``, ``https://``, any fsspec URL): the validator and
  the embed stage read it where it is. The manifest itself may be at a URL too; its relative
  paths then resolve against its URL.
* A missing file is not fatal here: it is found when the validator reads it and recorded as
  unreadable ("file not found").
* Standard input (``curate index -``) is a manifest too: JSON lines, CSV / TSV with a header
  naming the path column, or one path per line whose label is its folder's name
  (:func:`stdin_columns`); relative paths resolve against the current folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
from collections.abc import Callable, Sequence
from typing import Any

from curate import progress
from curate.errors import DataError
from curate.index.candidates import Candidate, label_cell, label_text, mixed_spellings
from curate.index.captions import DEFAULT_CAPTION_COLUMN, caption_text
from curate.index.remote import RemoteReadError, is_url, read_url, retrying
from curate.index.walk import EVERYTHING, EXCLUDED, Selection, Skipped

MANIFEST_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet"})

DEFAULT_PATH_COLUMN = "path"
DEFAULT_LABEL_COLUMN = "label"
DEFAULT_SPLIT_COLUMN = "split"
ID_COLUMNS = ("sample_id", "id")

Columns = tuple[list[str], dict[str, list[Any]], int]


def _read_delimited(text: str, delimiter: str) -> tuple[list[str], list[dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = list(reader)
    return [c for c in (reader.fieldnames or []) if c is not None], rows


def _read_json_lines(text: str, where: str) -> tuple[list[str], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise DataError(f"{where}, line {lineno}: not valid JSON") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}, line {lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return _columns_of(rows), rows


def _read_json(text: str, where: str) -> tuple[list[str], list[dict[str, Any]]]:
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise DataError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{where}: expected a JSON list of objects (one per image)")
    return _columns_of(rows), rows


def _columns_of(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _read_parquet(location: str, path_column: str, label_column: str, split_column: str, caption_column: str):
    import pyarrow as pa

    from curate.index.parquet import column_labels, open_parquet

    try:  # only the columns a manifest needs (a table of embeddings can be gigabytes)
        pf = open_parquet(location)
        schema = pf.schema_arrow
        wanted = [
            c for c in (path_column, label_column, split_column, caption_column, *ID_COLUMNS) if c in schema.names
        ]
        if is_url(location):
            table = retrying(location, lambda: pf.read(columns=wanted))
        else:
            table = pf.read(columns=wanted)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{location} is not a readable Parquet file: {exc}") from None
    columns = {c: table.column(c).to_pylist() for c in wanted}
    if label_column in columns:  # integer ClassLabel -> names, as for image Parquet
        columns[label_column] = column_labels(table, label_column)
    return list(schema.names), columns


def _read_raw(location: str) -> bytes:
    if is_url(location):
        return read_url(location)
    with open(location, "rb") as f:
        return f.read()


def _text(raw: bytes) -> str:
    return raw.decode("utf-8-sig", errors="replace")


def read_columns(
    location: str,
    *,
    path_column: str,
    label_column: str,
    split_column: str,
    caption_column: str = DEFAULT_CAPTION_COLUMN,
) -> Columns:
    """(all column names, the needed columns as lists, row count) of a manifest file at a local
    path or a URL (read whole: a manifest lists images, it does not hold them)."""
    suffix = posixpath.splitext(location.split("?", 1)[0])[1].lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise DataError(
            f"{location}: unsupported manifest type {suffix!r} (use {', '.join(sorted(MANIFEST_SUFFIXES))})"
        )
    if suffix == ".parquet":
        names, columns = _read_parquet(location, path_column, label_column, split_column, caption_column)
        rows = len(next(iter(columns.values()))) if columns else 0
        return names, columns, rows
    try:
        raw = _read_raw(location)
    except RemoteReadError:
        raise
    except OSError as exc:
        raise DataError(f"cannot read the manifest {location}: {exc.strerror or exc}") from None
    return table_columns(suffix, _text(raw), location, path_column, label_column, split_column, caption_column)


def table_columns(
    suffix: str,
    text: str,
    where: str,
    path_column: str,
    label_column: str,
    split_column: str,
    caption_column: str = DEFAULT_CAPTION_COLUMN,
) -> Columns:
    """:func:`read_columns` of a text manifest (``.csv``, ``.tsv``, ``.jsonl``, ``.json``) already read."""
    if suffix in (".csv", ".tsv"):
        names, rows = _read_delimited(text, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        names, rows = _read_json_lines(text, where)
    else:
        names, rows = _read_json(text, where)
    wanted = [c for c in (path_column, label_column, split_column, caption_column, *ID_COLUMNS) if c in names]
    return names, {c: [row.get(c) for row in rows] for c in wanted}, len(rows)


def _optional_column(
    columns: dict[str, list[Any]],
    name: str,
    default: str,
    what: str,
    path: str,
    names: list[str],
    text: Callable[[object], Any] = label_text,
) -> list[Any] | None:
    if name in columns:
        return [text(v) for v in columns[name]]
    if name != default:
        raise DataError(f"{path} has no {what} column {name!r} (columns: {', '.join(names)})")
    return None


def list_manifest(
    location: str,
    *,
    path_column: str = DEFAULT_PATH_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    split_column: str = DEFAULT_SPLIT_COLUMN,
    caption_column: str = DEFAULT_CAPTION_COLUMN,
    selection: Selection = EVERYTHING,
) -> tuple[list[Candidate], list[Skipped]]:
    """One candidate per manifest row (see the module docstring), and the rows ``selection``
    leaves out. ``location`` is a local path or a URL."""
    table = read_columns(
        location,
        path_column=path_column,
        label_column=label_column,
        split_column=split_column,
        caption_column=caption_column,
    )
    if is_url(location):
        base = location.split("?", 1)[0].rpartition("/")[0]
    else:
        base = os.path.dirname(os.path.abspath(location))
    return manifest_candidates(
        table,
        base,
        location,
        path_column=path_column,
        label_column=label_column,
        split_column=split_column,
        caption_column=caption_column,
        selection=selection,
    )


def _resolve(base: str, given: str) -> str:
    """A manifest cell as a location: a URL as written, else a path relative to ``base`` (the
    manifest's folder: a local path or a URL prefix)."""
    if is_url(given):
        return given
    if is_url(base):
        scheme, rest = base.split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, given))}"
    return os.path.normpath(os.path.join(base, os.path.expanduser(given)))


def manifest_candidates(
    table: Columns,
    base: str,
    where: str,
    *,
    path_column: str = DEFAULT_PATH_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    split_column: str = DEFAULT_SPLIT_COLUMN,
    caption_column: str = DEFAULT_CAPTION_COLUMN,
    selection: Selection = EVERYTHING,
) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates of a manifest's columns (:func:`read_columns`); relative paths resolve against
    ``base``; ``where`` names the manifest in errors."""
    names, columns, num_rows = table
    if path_column not in columns:
        raise DataError(
            f"{where} has no path column {path_column!r} (columns: {', '.join(names) or 'none'}); "
            "name the column of image paths with --path-column"
        )
    labels = _optional_column(columns, label_column, DEFAULT_LABEL_COLUMN, "label", where, names, text=label_cell)
    mixed = mixed_spellings(columns[label_column]) if labels else []
    if mixed:
        shown = ", ".join(f'{m} and "{m}"' for m in mixed[:3]) + (", ..." if len(mixed) > 3 else "")
        progress.log(
            f"note: {where} spells {len(mixed)} label(s) both as a number and as text ({shown}); "
            "each is read as one class"
        )
    splits = _optional_column(columns, split_column, DEFAULT_SPLIT_COLUMN, "split", where, names)
    captions = _optional_column(
        columns, caption_column, DEFAULT_CAPTION_COLUMN, "caption", where, names, text=caption_text
    )
    id_column = next((c for c in ID_COLUMNS if c in columns), None)
    out: list[Candidate] = []
    skipped: list[Skipped] = []
    for i, raw in enumerate(columns[path_column]):
        given = "" if raw is None else str(raw).strip()
        if given and not selection.selects(given):
            skipped.append(Skipped(given, EXCLUDED))
            continue
        sid = label_text(columns[id_column][i]) if id_column else None
        sample_id = sid or given or f"row:{i}"
        label, tags = labels[i] if labels else (None, None)
        split = splits[i] if splits else None
        error = None if given else "no path in the manifest row"
        location = _resolve(base, given) if given else base
        caption = captions[i] if captions else None
        out.append(Candidate(sample_id, location, None, "manifest", label, split, error, caption=caption, tags=tags))
    return out, skipped


def path_list_columns(lines: Sequence[str]) -> Columns:
    """A plain list of image paths (one per line, as ``find`` prints them) as manifest columns:
    ``path``, and ``label`` the name of each image's folder (as in an image folder; none for a
    file without one)."""
    paths = [line.strip() for line in lines if line.strip()]
    labels = [posixpath.basename(posixpath.dirname(p.rstrip("/"))) or None for p in paths]
    return (
        [DEFAULT_PATH_COLUMN, DEFAULT_LABEL_COLUMN],
        {DEFAULT_PATH_COLUMN: paths, DEFAULT_LABEL_COLUMN: labels},
        len(paths),
    )


def stdin_columns(
    text: str,
    *,
    path_column: str,
    label_column: str,
    split_column: str,
    caption_column: str = DEFAULT_CAPTION_COLUMN,
) -> tuple[str, Columns]:
    """What standard input holds, and its columns: ``jsonl`` (first line a JSON object), ``csv``
    / ``tsv`` (a header naming ``path_column``), else ``paths``, one per line."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("{"):
        return "jsonl", table_columns(
            ".jsonl", text, "standard input", path_column, label_column, split_column, caption_column
        )
    for kind, delimiter in (("tsv", "\t"), ("csv", ",")):
        header = next(csv.reader([first], delimiter=delimiter), [])
        if delimiter in first and path_column in [h.strip() for h in header]:
            return kind, table_columns(
                f".{kind}", text, "standard input", path_column, label_column, split_column, caption_column
            )
    return "paths", path_list_columns(text.splitlines())
