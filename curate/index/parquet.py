"""Parquet files holding the images themselves, as Hugging Face ``datasets`` writes them.

The image column is the ``Image`` feature's struct ``{bytes, path}`` (a plain binary column
works too). A label column that holds integers is a ``ClassLabel``: its names come from the
``huggingface`` schema metadata when present, else ``str(int)``; ``-1`` means unlabelled (how
HF marks test splits without labels). ``sample_id`` is ``<file relative to DATA>:<row>`` and
``member`` is ``"row:<i>"``.

Listing reads only the label / split columns; the image bytes are streamed batch by batch by
:func:`iter_image_bytes` so a large file is never held in memory at once. A remote file (a URL)
is read through fsspec by range: the footer, the label columns, then one row group of the image
column at a time, each read retried on transient failures. Files under DATA that are not
``.parquet`` are skipped with their reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import DataError
from curate.index.candidates import Candidate, label_cell, label_text, split_from_parts
from curate.index.captions import DEFAULT_CAPTION_COLUMN, caption_text
from curate.index.remote import RemoteReadError, is_url, open_url, retrying
from curate.index.walk import Skipped, Tree

#: rows per streamed batch of image bytes
BATCH_ROWS = 256

NOT_PARQUET = "not a .parquet file"


def is_parquet_name(name: str) -> bool:
    return name.lower().endswith(".parquet")


def open_parquet(location: str) -> pq.ParquetFile:
    """A Parquet file at a local path or a URL (read by range through fsspec)."""
    if is_url(location):
        return retrying(location, lambda: pq.ParquetFile(open_url(location)))
    return pq.ParquetFile(location)


def read_schema(location: str) -> pa.Schema:
    """The Arrow schema of a Parquet file (local or remote); DataError when it is not Parquet."""
    try:
        return open_parquet(location).schema_arrow
    except RemoteReadError:
        raise
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{location} is not a readable Parquet file: {exc}") from None


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


def column_labels(table: pa.Table, column: str) -> list[Any]:
    """Label strings of one column; integer columns map through ClassLabel names if recorded. A
    list column (multi-label tags) gives a tuple of tag strings per row (integers as their text)."""
    values = table.column(column).to_pylist()
    kind = table.schema.field(column).type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return [None if v is None else tuple(label_text(t) for t in v if label_text(t) is not None) for v in values]
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


def _check_image_column(path: str, schema: pa.Schema, image_column: str) -> None:
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


def has_image_column(path: str, image_column: str) -> bool:
    """Whether a Parquet file holds image bytes in ``image_column`` (for format detection)."""
    try:
        _check_image_column(path, read_schema(path), image_column)
    except DataError:
        return False
    return True


def list_parquet(
    tree: Tree,
    *,
    image_column: str = "image",
    label_column: str = "label",
    split_column: str = "split",
    caption_column: str = DEFAULT_CAPTION_COLUMN,
) -> tuple[list[Candidate], list[str], list[Skipped]]:
    """Candidates of every row of every Parquet file of ``tree``, the files' locations in listing
    order, and the files that are not Parquet.

    The split comes from ``split_column`` when present, else from the file's path
    (``data/train-00000-of-00001.parquet`` -> ``train``); the caption from ``caption_column``
    (an image-text set's text column) when present. A caption column named explicitly (not the
    default) must exist in every file.
    """
    out: list[Candidate] = []
    files: list[str] = []
    skipped: list[Skipped] = []
    for rel in tree.files:
        if not is_parquet_name(rel) and not tree.single:
            skipped.append(Skipped(rel, NOT_PARQUET))
            continue
        location = tree.location(rel)
        schema = read_schema(location)
        _check_image_column(location, schema, image_column)
        if caption_column != DEFAULT_CAPTION_COLUMN and caption_column not in schema.names:
            raise DataError(f"{location} has no caption column {caption_column!r} (columns: {', '.join(schema.names)})")
        wanted = [c for c in (label_column, split_column, caption_column) if c in schema.names]
        pf = open_parquet(location)
        rows = pf.metadata.num_rows
        table = (
            retrying(location, lambda pf=pf, cols=wanted: pf.read(columns=cols))
            if tree.remote
            else pf.read(columns=wanted)
        )
        labels = column_labels(table, label_column) if label_column in wanted else [None] * rows
        if split_column in wanted:
            splits = [label_text(v) for v in table.column(split_column).to_pylist()]
        else:
            splits = [split_from_parts(rel.split("/"))] * rows
        captions = (
            [caption_text(v) for v in table.column(caption_column).to_pylist()]
            if caption_column in wanted
            else [None] * rows
        )
        for i in range(rows):
            label, tags = _label_and_tags(labels[i])
            out.append(
                Candidate(
                    f"{rel}:{i}", location, f"row:{i}", "parquet", label, splits[i], caption=captions[i], tags=tags
                )
            )
        files.append(location)
    return out, files, skipped


def _label_and_tags(cell: Any) -> tuple[str | None, tuple[str, ...] | None]:
    """A :func:`column_labels` cell as a candidate's ``label`` and ``tags``."""
    return label_cell(cell) if isinstance(cell, tuple) else (cell, None)


def _image_values(column: Any) -> list[bytes | None]:
    if pa.types.is_struct(column.type):
        column = column.flatten()[column.type.get_field_index("bytes")]  # keeps null rows null
    return [value or None for value in column.to_pylist()]


def iter_image_bytes(files: list[str], image_column: str = "image") -> Iterator[bytes | None]:
    """The encoded image of every row, in :func:`list_parquet` order; None where a row has none.
    Memory: one batch (local) or one row group (remote) of the image column at a time."""
    for file in files:
        pf = open_parquet(file)
        if is_url(file):
            for group in range(pf.metadata.num_row_groups):
                table = retrying(file, lambda pf=pf, g=group: pf.read_row_group(g, columns=[image_column]))
                yield from _image_values(table.column(0).combine_chunks())
            continue
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[image_column]):
            yield from _image_values(batch.column(0))
