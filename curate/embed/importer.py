"""Bring-your-own embeddings: ``curate scan --embeddings E.npy --labels L.npy``.

Writes ``samples.parquet`` and ``embeddings/`` exactly as the image path does, so every later
stage runs unchanged. With array inputs, ``sample_id`` is the row number as a string.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.config import IMPORT_SHARD_ROWS
from curate.embed import store
from curate.errors import DataError, UsageError
from curate.index.candidates import sorted_class_names
from curate.index.captions import caption_text
from curate.schemas import FILE_STAT, IMAGE_STATS, SAMPLES
from curate.workspace import Workspace, locked, write_parquet_atomic

#: the first bytes of every file numpy.save writes
NPY_MAGIC = b"\x93NUMPY"


def _load_npy(path: Path) -> np.ndarray:
    """A ``.npy`` of numbers or strings; anything else is one line saying what the file is instead
    (numpy calls every file without its header "pickled (object) data")."""
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        raise DataError(f"{path} is not a .npy file (no NumPy header; write arrays with numpy.save)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickled" in str(exc) or "allow_pickle" in str(exc):
            raise DataError(
                f"{path} holds Python objects (dtype object), which curate does not unpickle; "
                "save numbers or strings (e.g. numpy.save(path, labels.astype(str)))"
            ) from None
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None


def load_array(path: str | os.PathLike[str], *, column: str | None = None) -> np.ndarray:
    """Load a ``.npy`` array, or one column of a Parquet file (list columns become 2-D).

    For Parquet embeddings without ``column``, the first list-typed column is used (clip-retrieval
    and embedding-reader name it ``embedding``).
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.suffix == ".npy":
        return _load_npy(path)
    if path.suffix == ".parquet" or path.is_dir():
        table = pq.read_table(path)
        if column is None:
            lists = [
                f.name
                for f in table.schema
                if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type) or pa.types.is_large_list(f.type)
            ]
            if not lists:
                raise DataError(f"{path} has no list column of embeddings; name one with --embedding-column")
            column = "embedding" if "embedding" in lists else lists[0]
        if column not in table.column_names:
            raise DataError(f"{path} has no column {column!r} (columns: {', '.join(table.column_names)})")
        col = table.column(column).combine_chunks()
        if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or pa.types.is_large_list(col.type):
            rows = col.to_numpy(zero_copy_only=False)
            try:
                return np.stack(rows).astype(np.float32)
            except ValueError:
                raise DataError(f"{path}: rows of {column!r} have different lengths") from None
        return col.to_numpy(zero_copy_only=False)
    raise UsageError(f"{path}: expected a .npy or .parquet file")


#: suffixes of JSON-lines label files (one JSON value per line: a list of tags, a label, or an
#: object holding one under the label column)
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")

#: columns a labels file's labels are looked for in when none is named
LABEL_COLUMN_NAMES = ("labels", "label", "tags")


def _is_list_type(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind) or pa.types.is_large_list(kind)


def load_labels(path: str | os.PathLike[str], *, column: str | None = None) -> np.ndarray | list[Any]:
    """Labels for ``--embeddings``: a ``.npy`` ((N,) labels or an (N, K) multi-hot array), JSON
    lines (each line a list of tags, a label, or an object with ``column`` / ``labels`` /
    ``label``), or a Parquet column (a list column gives each row's tags; without ``column``,
    the first of :data:`LABEL_COLUMN_NAMES` it has). Lists come back as a list of cells."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.suffix in JSON_LINES_SUFFIXES:
        cells: list[Any] = []
        keys = (column,) if column else LABEL_COLUMN_NAMES
        for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                raise DataError(f"{path}, line {lineno}: not valid JSON") from None
            if isinstance(value, dict):
                key = next((k for k in keys if k in value), None)
                value = value.get(key) if key is not None else None
            if not (value is None or isinstance(value, (str, int, float, list))):
                raise DataError(
                    f"{path}, line {lineno}: expected a list of tags or a label, got {type(value).__name__}"
                )
            cells.append(value)
        return cells
    if path.suffix == ".parquet":
        schema = pq.read_schema(path)
        name = column or next((c for c in LABEL_COLUMN_NAMES if c in schema.names), None)
        if name is not None and name in schema.names and _is_list_type(schema.field(name).type):
            return pq.read_table(path, columns=[name]).column(name).to_pylist()
        if name is not None and column is None:
            return load_array(path, column=name)
    return load_array(path, column=column)


#: row indices an error message names before it says "..."
NAMED_ROWS = 5

#: Vectors whose lengths all lie within this of 1 were normalised upstream (float16 storage of a
#: unit vector is off by ~1e-3 at most): their lengths carry no information and are not kept.
UNIT_LENGTH_TOLERANCE = 1e-2


def _rows(indices: np.ndarray) -> str:
    """``3 rows (rows 4, 9, 17)``: how many rows, and the first :data:`NAMED_ROWS` of them."""
    shown = ", ".join(str(int(i)) for i in indices[:NAMED_ROWS]) + (", ..." if indices.size > NAMED_ROWS else "")
    return f"1 row (row {shown})" if indices.size == 1 else f"{indices.size:,} rows (rows {shown})"


def _content_hash(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def normalise_labels(labels: np.ndarray, class_names: list[str] | None = None) -> tuple[list[str | None], list[str]]:
    """(N,) integer or string labels -> (label strings with None for unlabelled, class list).

    Integer labels index ``class_names`` (class ``i`` is ``class_names[i]``); without
    ``class_names`` they are the names, exactly as if spelled as strings (``3`` is class ``"3"``,
    classes that occur sorted numerically), so both spellings give the same results. Negative
    integers mean unlabelled.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DataError(f"labels must be a 1-D array, got shape {labels.shape}")
    if labels.dtype.kind in "iu":
        if not class_names:  # the integers are the names: the same classes as the labels spelled as strings
            return normalise_labels(np.array([str(v) if v >= 0 else "" for v in labels.tolist()], dtype=object))
        top = int(labels.max()) + 1 if labels.size else 0
        names = list(class_names)
        if top > len(names):
            raise DataError(f"label {top - 1} is out of range for {len(names)} class names")
        return [names[int(v)] if v >= 0 else None for v in labels], names
    if labels.dtype.kind == "f":
        if not np.all(np.isnan(labels) | (labels == np.round(labels))):
            raise DataError("labels must be integers or strings, got non-integer floats")
        as_int = np.where(np.isnan(labels), -1, labels).astype(np.int64)
        return normalise_labels(as_int, class_names)
    if labels.dtype.kind in "UO":
        values = [None if (v is None or v == "") else str(v) for v in labels.tolist()]
        names = list(class_names) if class_names else sorted_class_names(values)
        return values, names
    raise DataError(f"labels have unsupported dtype {labels.dtype}")


def multi_hot_tags(labels: np.ndarray, class_names: list[str] | None = None) -> tuple[list[tuple[str, ...]], list[str]]:
    """(N, K) 0/1 multi-hot labels -> (each row's tags, the K tag names).

    Column ``j`` is tag ``class_names[j]`` (default its number as text). A row of zeros has no
    tag. Values other than 0 and 1 (or NaN), and a name list of another length, are a
    :class:`UsageError`: the array is not what ``--labels`` takes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise UsageError(f"multi-hot labels must be an N x K array, got shape {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise UsageError(f"an N x K --labels array must hold 0/1 numbers, got dtype {labels.dtype}")
    values = labels.astype(np.float64, copy=False)
    bad = np.flatnonzero(~((values == 0) | (values == 1)).all(axis=1))
    if bad.size:
        row = int(bad[0])
        wrong = values[row][~((values[row] == 0) | (values[row] == 1))][0]
        raise UsageError(
            f"an N x K --labels array must hold only 0 and 1 (multi-hot tags); {_rows(bad)} hold other values "
            f"(e.g. {wrong:g} in row {row})"
        )
    k = labels.shape[1]
    names = list(class_names) if class_names else [str(j) for j in range(k)]
    if len(names) != k:
        raise UsageError(f"{len(names)} class names for {k} tag columns of the --labels array")
    hot = values == 1
    rows, cols = np.nonzero(hot)
    per_row: list[list[str]] = [[] for _ in range(labels.shape[0])]
    for r, c in zip(rows.tolist(), cols.tolist()):
        per_row[r].append(names[c])
    return [tuple(sorted_class_names(t)) for t in per_row], sorted_class_names(names)


def label_inputs(
    labels: np.ndarray | Sequence[Any],
    *,
    class_names: list[str] | None = None,
    label_separator: str | None = None,
    multi_label: bool | None = None,
) -> tuple[list[str | None], list[tuple[str, ...]] | None, list[str]]:
    """Imported labels -> ``(label strings, tag sets or None, class or tag names)``.

    An (N, K) array is multi-hot tags (:func:`multi_hot_tags`); a list whose cells are lists
    (JSON lines, a Parquet list column), string labels split on ``label_separator`` (or a
    detected one) and any labels with ``multi_label`` are tag sets (:func:`curate.index.tags.read_cells`);
    otherwise single labels (:func:`normalise_labels`).
    """
    from curate.index.tags import read_cells, tag_names

    if isinstance(labels, np.ndarray) and labels.ndim not in (1, 2):
        raise DataError(f"labels must be a 1-D array or an N x K multi-hot array, got shape {labels.shape}")
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if multi_label is False:
            raise UsageError("--single-label was given but --labels is an N x K (multi-hot) array")
        if label_separator is not None:
            raise UsageError("--label-separator splits string labels; --labels is an N x K (multi-hot) array")
        tags, names = multi_hot_tags(labels, class_names)
        return [None] * len(tags), tags, names
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "biuf" and not multi_label:
        if label_separator is not None:
            raise UsageError("--label-separator splits string labels; these --labels are numbers")
        strings, names = normalise_labels(labels, class_names)
        return strings, None, names
    cells = list(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    if class_names and label_separator is None and multi_label is None:
        known = set(class_names)
        if all(c is None or c == "" or (isinstance(c, str) and c in known) for c in cells):
            multi_label = False  # every label is a given class name: no tag set to detect
    strings, tags, _ = read_cells(cells, separator=label_separator, multi_label=multi_label, where="--labels")
    if tags is None:  # single labels, read exactly as before
        array = labels if isinstance(labels, np.ndarray) else np.array(cells, dtype=object)
        single, names = normalise_labels(array, class_names)
        return single, None, names
    names = tag_names(tags)
    if class_names:
        unknown = sorted(set(names) - set(class_names))
        if unknown:
            raise DataError(f"tag {unknown[0]!r} is not among the given class names")
        names = list(class_names)
    return strings, tags, names


@locked(create=True)
def import_arrays(
    ws: Workspace,
    embeddings: np.ndarray,
    labels: np.ndarray | Sequence[Any] | None = None,
    *,
    class_names: list[str] | None = None,
    label_separator: str | None = None,
    multi_label: bool | None = None,
    source: str = "array",
    overwrite: bool = False,
    shard_size: int = IMPORT_SHARD_ROWS,
    text_embeddings: np.ndarray | None = None,
    captions: list[str | None] | None = None,
) -> bool:
    """Write ``samples.parquet`` and ``embeddings/`` for an (N, D) array and optional (N,) labels.

    Embeddings are L2-normalised and stored in float32 (float16 when that is what was given): in
    a tight space — a metric-learning model's nearest neighbours all above 0.99 — float16 moves
    cosines by ~1e-4, as much as separates a near-duplicate from a neighbour. When the given
    vectors were not unit length (features rather than normalised embeddings), their lengths are
    kept too (``embeddings/norms.parquet``): the label scorer's Euclidean vote reads the features
    as given from them.

    Image-text pairs: ``text_embeddings`` (N, D), row i the embedding of sample i's caption in the
    same space (an all-zero row: no caption), go to ``embeddings/captions.parquet`` normalised;
    ``captions`` (N strings or None) to samples.parquet's ``caption``. Returns False when
    the workspace already holds exactly this import (nothing written), True otherwise.
    """
    emb = np.asarray(embeddings)
    precision = "float16" if emb.dtype == np.float16 else "float32"
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise DataError(f"embeddings must be a non-empty N x D array, got shape {emb.shape}")
    if emb.dtype.kind not in "fiu":
        raise DataError(f"embeddings must be numeric, got dtype {emb.dtype}")
    emb = emb.astype(np.float32, copy=False)
    bad = np.flatnonzero(~np.isfinite(emb).all(axis=1))
    if bad.size:
        raise DataError(f"embeddings have NaN or infinite values in {_rows(bad)}")
    norms = np.linalg.norm(emb, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise DataError(f"embeddings have an all-zero vector (no direction to normalise) in {_rows(zero)}")
    n = emb.shape[0]
    if labels is not None and len(labels) != n:
        if isinstance(labels, np.ndarray) and labels.ndim == 2:  # multi-hot: the option's value is wrong
            raise UsageError(f"the N x K --labels array has {len(labels)} rows but embeddings have {n}")
        raise DataError(f"labels have {len(labels)} rows but embeddings have {n}")
    tag_sets: list[tuple[str, ...]] | None = None
    if labels is None:
        label_strings, names = [None] * n, list(class_names or [])
    else:
        label_strings, tag_sets, names = label_inputs(
            labels, class_names=class_names, label_separator=label_separator, multi_label=multi_label
        )

    text, has_text = _text_vectors(text_embeddings, emb.shape)
    if captions is not None and len(captions) != n:
        raise DataError(f"captions have {len(captions)} rows but embeddings have {n}")
    caption_strings = [caption_text(c) for c in captions] if captions is not None else [None] * n
    pair_arrays = () if text is None else (text,)
    if captions is not None:
        pair_arrays += (np.array([c or "" for c in caption_strings], dtype=object).astype(str),)
    if tag_sets is None:
        label_array = np.asarray(labels) if labels is not None else np.zeros(0)
    else:  # the tags as read, so a list and its multi-hot array of the same tags import alike
        label_array = np.frombuffer(json.dumps([list(t) for t in tag_sets]).encode(), dtype=np.uint8)
    content = _content_hash(emb, label_array, *pair_arrays)
    params: dict[str, Any] = {"source": source, "content": content, "class_names": names}
    if tag_sets is not None:  # only then, so earlier imports stay valid
        params["multi_label"] = True
    samples_fp, _, samples_fresh = ws.plan("samples", "import", params, [], overwrite=overwrite)
    emb_params = {"content": content, "shard_size": shard_size, "precision": precision}
    ws.root.mkdir(parents=True, exist_ok=True)
    if not samples_fresh:
        ids = [str(i) for i in range(n)]
        table = pa.table(
            {
                "sample_id": ids,
                "path": [""] * n,
                "member": pa.nulls(n, pa.string()),
                "source": [source] * n,
                "label": pa.array(label_strings, type=pa.string()),
                "split": pa.nulls(n, pa.string()),
                "caption": pa.array(caption_strings, type=pa.string()),
                "size_bytes": pa.nulls(n, pa.int64()),
                "width": pa.nulls(n, pa.int32()),
                "height": pa.nulls(n, pa.int32()),
                "hash": pa.nulls(n, pa.string()),
                "readable": [True] * n,
                "error": pa.nulls(n, pa.string()),
                "image_stats": pa.nulls(n, IMAGE_STATS),
                "file_stat": pa.nulls(n, FILE_STAT),
                "labels": pa.nulls(n, SAMPLES.field("labels").type)
                if tag_sets is None
                else pa.array([list(t) for t in tag_sets], type=SAMPLES.field("labels").type),
            },
            schema=SAMPLES,
        )
        write_parquet_atomic(
            ws.path("samples"),
            table,
            fingerprint=samples_fp,
            inputs={},
            params=params,
            extra={"class_names": names, **({"multi_label": True} if tag_sets is not None else {})},
        )
    emb_fp, emb_inputs, emb_fresh = ws.plan("embeddings", "import-embeddings", emb_params, ["samples"], overwrite=True)
    folder = ws.path("embeddings")
    if emb_fresh and store.is_complete(folder) and samples_fresh:
        return False
    emb = emb / norms[:, None]  # never mutate the caller's array
    store.start_run(
        folder,
        fingerprint=emb_fp,
        inputs=emb_inputs,
        params=emb_params,
        dim=emb.shape[1],
        shard_size=shard_size,
        num_rows=n,
    )
    for i, start in enumerate(range(0, n, shard_size)):
        stop = min(start + shard_size, n)
        store.write_shard(folder, i, [str(j) for j in range(start, stop)], emb[start:stop], precision=precision)
    if np.abs(norms - 1.0).max() > UNIT_LENGTH_TOLERANCE:
        store.write_norms(folder, [str(j) for j in range(n)], norms)
    if text is not None:
        rows = np.flatnonzero(has_text)
        store.write_caption_embeddings(folder, [str(j) for j in rows], text[rows], precision=precision)
    store.finish_run(folder)
    return True


def _text_vectors(text_embeddings: np.ndarray | None, shape: tuple[int, ...]) -> tuple[np.ndarray | None, np.ndarray]:
    """Imported caption embeddings, L2-normalised (float32), and which rows have one (an all-zero
    row has none); checked against the image embeddings' ``shape``."""
    if text_embeddings is None:
        return None, np.zeros(shape[0], dtype=bool)
    text = np.asarray(text_embeddings)
    if text.ndim != 2 or text.shape != tuple(shape):
        raise DataError(f"text embeddings must match the image embeddings' shape {tuple(shape)}, got {text.shape}")
    if text.dtype.kind not in "fiu":
        raise DataError(f"text embeddings must be numeric, got dtype {text.dtype}")
    text = text.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(text).all(axis=1))
    if bad.size:
        raise DataError(f"text embeddings have NaN or infinite values in {_rows(bad)}")
    lengths = np.linalg.norm(text, axis=1)
    has = lengths > 0
    text[has] /= lengths[has, None]
    return text, has
