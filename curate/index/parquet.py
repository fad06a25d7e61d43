"""Parquet files holding the images themselves, as Hugging Face ``datasets`` writes them.

The image column is the ``Image`` feature's struct ``{bytes, path}`` (a plain binary column
works too). A label column that holds integers is a ``ClassLabel``: its names come from the
``huggingface`` schema metadata when present, else ``str(int)``; ``-1`` means unlabelled (how
HF marks test splits without labels). ``sample_id`` is ``<file relative to DATA>:<row>`` and
``member`` is ``"row:<i>"``.

Listing reads only the label / split columns; the image bytes are streamed batch by batch by
:func:`iter_image_bytes` so a large file is never held in memory at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import DataError
from curate.index.candidates import Candidate, files_under, label_text, split_from_parts

#: rows per streamed batch of image bytes
BATCH_ROWS = 256


def parquet_files(data: Path) -> list[Path]:
    """``data`` itself, or every ``*.parquet`` under it (sorted, hidden files skipped)."""
    return files_under(data, "*.parquet")


def class_label_names(schema: pa.Schema, column: str) -> list[str] | None:
    """``ClassLabel`` names of ``column`` from Hugging Face's schema metadata, if recorded."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return None
    try:
        features = json.loads(raw).get("info", {}).get("features", {})
    except (ValueError, AttributeError):
        return None
    feature = features.get(column) if isinstance(features, dict) else None
    if isinstance(feature, dict) and feature.get("_type") == "ClassLabel" and feature.get("names"):
        return [str(n) for n in feature["names"]]
    return None


def column_labels(table: pa.Table, column: str) -> list[str | None]:
    """Label strings of one column; integer columns map through ClassLabel names if recorded."""
    values = table.column(column).to_pylist()
    if pa.types.is_integer(table.schema.field(column).type):
        names = class_label_names(table.schema, column)
        out: list[str | None] = []
        for v in values:
            if v is None or v < 0:
                out.append(None)
            elif names is not None and v < len(names):
                out.append(names[v])
            else:
                out.append(str(v))
        return out
    return [label_text(v) for v in values]


def _check_image_column(path: Path, schema: pa.Schema, image_column: str) -> None:
    if image_column not in schema.names:
        raise DataError(
            f"{path} has no image column {image_column!r} (columns: {', '.join(schema.names)}); "
            "name it with --image-column, or use --format manifest for a table of file paths"
        )
    kind = schema.field(image_column).type
    if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
        return
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return
    raise DataError(
        f"{path}: column {image_column!r} is {kind}, not image bytes "
        "(expected the Hugging Face Image struct {bytes, path} or a binary column)"
    )


def has_image_column(path: Path, image_column: str) -> bool:
    """Whether a Parquet file holds image bytes in ``image_column`` (for format detection)."""
    try:
        _check_image_column(path, pq.read_schema(path), image_column)
    except DataError:
        return False
    return True


def list_parquet(
    data: Path, *, image_column: str = "image", label_column: str = "label", split_column: str = "split"
) -> tuple[list[Candidate], list[Path]]:
    """Candidates of every row of every Parquet file, and the files in listing order.

    The split comes from ``split_column`` when present, else from the file's path
    (``data/train-00000-of-00001.parquet`` -> ``train``).
    """
    files = parquet_files(data)
    out: list[Candidate] = []
    for file in files:
        try:
            schema = pq.read_schema(file)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{file} is not a readable Parquet file: {exc}") from None
        _check_image_column(file, schema, image_column)
        wanted = [c for c in (label_column, split_column) if c in schema.names]
        table = pq.read_table(file, columns=wanted)
        rows = pq.ParquetFile(file).metadata.num_rows
        labels = column_labels(table, label_column) if label_column in wanted else [None] * rows
        rel = file.relative_to(data).as_posix() if data.is_dir() else file.name
        if split_column in wanted:
            splits = [label_text(v) for v in table.column(split_column).to_pylist()]
        else:
            splits = [split_from_parts(rel.split("/"))] * rows
        path = os.path.abspath(file)
        out.extend(Candidate(f"{rel}:{i}", path, f"row:{i}", "parquet", labels[i], splits[i]) for i in range(rows))
    return out, files


def iter_image_bytes(files: list[Path], image_column: str = "image") -> Iterator[bytes | None]:
    """The encoded image of every row, in :func:`list_parquet` order; None where a row has none."""
    for file in files:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=BATCH_ROWS, columns=[image_column]):
            col = batch.column(0)
            if pa.types.is_struct(col.type):
                col = col.flatten()[col.type.get_field_index("bytes")]  # keeps null rows null
            for value in col.to_pylist():
                yield value or None
