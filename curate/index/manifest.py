"""Manifest reader: a CSV / TSV / JSONL / JSON / Parquet table of image paths and labels.

* ``path_column`` (default ``path``) is required; relative paths resolve against the
  manifest's folder.
* ``label_column`` and ``split_column`` are optional: absent means unlabelled / not split. A
  column the caller named explicitly (not the default) must exist.
* ``sample_id`` is the ``sample_id`` or ``id`` column when there is one, else the path as
  written in the manifest.
* A missing file is not fatal here: it is found when the validator reads it and recorded as
  unreadable ("file not found").
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from curate.errors import DataError
from curate.index.candidates import Candidate, label_text

MANIFEST_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet"})

DEFAULT_PATH_COLUMN = "path"
DEFAULT_LABEL_COLUMN = "label"
DEFAULT_SPLIT_COLUMN = "split"
ID_COLUMNS = ("sample_id", "id")


def _read_delimited(path: Path, delimiter: str) -> tuple[list[str], list[dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        rows = list(reader)
        return [c for c in (reader.fieldnames or []) if c is not None], rows


def _read_json_lines(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise DataError(f"{path}, line {lineno}: not valid JSON") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return _columns_of(rows), rows


def _read_json(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: expected a JSON list of objects (one per image)")
    return _columns_of(rows), rows


def _columns_of(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _read_parquet(path: Path, path_column: str, label_column: str, split_column: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.index.parquet import column_labels

    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path} is not a readable Parquet file: {exc}") from None
    wanted = [c for c in (path_column, label_column, split_column, *ID_COLUMNS) if c in schema.names]
    table = pq.read_table(path, columns=wanted)
    columns = {c: table.column(c).to_pylist() for c in wanted}
    if label_column in columns:  # integer ClassLabel -> names, as for image Parquet
        columns[label_column] = column_labels(table, label_column)
    return list(schema.names), columns


def read_columns(
    path: Path, *, path_column: str, label_column: str, split_column: str
) -> tuple[list[str], dict[str, list[Any]], int]:
    """(all column names, the needed columns as lists, row count) of a manifest file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        names, columns = _read_parquet(path, path_column, label_column, split_column)
        rows = len(next(iter(columns.values()))) if columns else 0
        return names, columns, rows
    if suffix in (".csv", ".tsv"):
        names, rows = _read_delimited(path, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        names, rows = _read_json_lines(path)
    elif suffix == ".json":
        names, rows = _read_json(path)
    else:
        raise DataError(f"{path}: unsupported manifest type {suffix!r} (use {', '.join(sorted(MANIFEST_SUFFIXES))})")
    wanted = [c for c in (path_column, label_column, split_column, *ID_COLUMNS) if c in names]
    return names, {c: [row.get(c) for row in rows] for c in wanted}, len(rows)


def _optional_column(
    columns: dict[str, list[Any]], name: str, default: str, what: str, path: Path, names: list[str]
) -> list[str | None] | None:
    if name in columns:
        return [label_text(v) for v in columns[name]]
    if name != default:
        raise DataError(f"{path} has no {what} column {name!r} (columns: {', '.join(names)})")
    return None


def list_manifest(
    path: Path,
    *,
    path_column: str = DEFAULT_PATH_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    split_column: str = DEFAULT_SPLIT_COLUMN,
) -> list[Candidate]:
    """One candidate per manifest row (see the module docstring)."""
    names, columns, num_rows = read_columns(
        path, path_column=path_column, label_column=label_column, split_column=split_column
    )
    if path_column not in columns:
        raise DataError(
            f"{path} has no path column {path_column!r} (columns: {', '.join(names) or 'none'}); "
            "name the column of image paths with --path-column"
        )
    labels = _optional_column(columns, label_column, DEFAULT_LABEL_COLUMN, "label", path, names)
    splits = _optional_column(columns, split_column, DEFAULT_SPLIT_COLUMN, "split", path, names)
    id_column = next((c for c in ID_COLUMNS if c in columns), None)
    base = os.path.dirname(os.path.abspath(path))
    out: list[Candidate] = []
    for i, raw in enumerate(columns[path_column]):
        given = "" if raw is None else str(raw).strip()
        sid = label_text(columns[id_column][i]) if id_column else None
        sample_id = sid or given or f"row:{i}"
        label = labels[i] if labels else None
        split = splits[i] if splits else None
        error = None
        if not given:
            error = "no path in the manifest row"
        elif "://" in given:
            error = "URLs are not fetched; download the images first (for example with img2dataset)"
        full = os.path.normpath(os.path.join(base, os.path.expanduser(given))) if given else base
        out.append(Candidate(sample_id, full, None, "manifest", label, split, error))
    return out
