"""On-disk layout of ``embeddings/``: sharded Parquet with a completion marker per shard.

::

    embeddings/_meta.json            fingerprint, inputs, params, dim, shard_size, num_shards (written first)
    embeddings/part-00000.parquet    sample_id, embedding (fixed-size list of float16 — float32 for
                                     imported arrays —, L2-normalised)
    embeddings/part-00000.done       written after its shard, so a restart skips finished shards;
                                     JSON {sample_id: reason} of samples that failed to decode there
    embeddings/text.parquet          class_name, embedding (float32) — optional, zero-shot scoring
    embeddings/norms.parquet         sample_id, norm: each imported vector's length before it was
                                     normalised — only for imported features that were not unit length
    embeddings/hashes.parquet        sample_id, hash (content hash) of every row, in row order
    embeddings/carried.parquet       hash, embedding: vectors a run took over from the previous
                                     one, kept until every shard is written
    embeddings/captions.parquet      sample_id, embedding: each captioned sample's caption through
                                     the same model's text tower (or imported text embeddings),
                                     L2-normalised — only for image-text pairs
    embeddings/caption-cache/        caption vectors by caption text (curate.embed.cache layout),
                                     written chunk by chunk: what a resumed or re-run embed reuses;
                                     kept when the folder is cleared for a new run
    embeddings/_SUCCESS              written last; the folder is complete only when it exists

Shard ``i`` always holds rows ``[i * shard_size, (i + 1) * shard_size)`` of the readable
samples in ``samples.parquet`` order (less those that failed to decode at embed time, which
its marker lists), so a resumed run ends with exactly the files an uninterrupted run writes.

Embeddings are keyed by content: a run with another fingerprint but the same model and
preprocessing (:func:`reusable_vectors`) takes over the vector of every row whose content hash
the folder already embedded, into ``carried.parquet`` before the old shards are removed, so
an interrupted run still has them when it resumes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import DamagedArtifactError, DataError
from curate.schemas import NORMS as NORMS_SCHEMA
from curate.schemas import embedding_shard_schema, text_embedding_schema
from curate.storage import SHARDS_COMPLETE as SUCCESS
from curate.storage import SHARDS_META as META
from curate.storage import read_parquet, reading, write_parquet_atomic, write_text_atomic
from curate.storage import read_shards_meta as read_run_meta
from curate.storage import shards_complete as is_complete

# META, SUCCESS, read_run_meta and is_complete are the storage layer's (the workspace reads a
# folder's record without importing this module); the embed package calls them by these names.

TEXT = "text.parquet"
NORMS = "norms.parquet"
HASHES = "hashes.parquet"
CARRIED = "carried.parquet"
CAPTIONS = "captions.parquet"
CAPTION_CACHE = "caption-cache"


def shard_path(folder: Path, index: int) -> Path:
    return folder / f"part-{index:05d}.parquet"


def _marker(folder: Path, index: int) -> Path:
    return folder / f"part-{index:05d}.done"


def start_run(
    folder: Path,
    *,
    fingerprint: str,
    inputs: Mapping[str, str],
    params: Mapping[str, Any],
    dim: int,
    shard_size: int,
    num_rows: int,
    hashes: pa.Table | None = None,
    carried: pa.Table | None = None,
) -> None:
    """Begin (or continue) a run. A folder from a run with another fingerprint, or whose record
    is damaged, is cleared, keeping only ``carried`` (hash, embedding: vectors this run takes
    over, :func:`reusable_vectors`), written first. ``hashes`` (sample_id, hash of each row, in
    row order) is what the next run reuses this one's vectors by."""
    try:
        meta = read_run_meta(folder)
    except DamagedArtifactError:
        meta = {"fingerprint": None}
    if meta is not None and meta["fingerprint"] == fingerprint:
        return
    keep = carried is not None and carried.num_rows > 0
    if folder.exists():
        if keep:
            assert carried is not None
            write_parquet_atomic(folder / CARRIED, carried)
        _clear(folder, keep={CAPTION_CACHE} | ({CARRIED} if keep else set()))
    folder.mkdir(parents=True, exist_ok=True)
    if hashes is not None:
        write_parquet_atomic(folder / HASHES, hashes.select(["sample_id", "hash"]))
    num_shards = max(1, -(-num_rows // shard_size))
    write_text_atomic(
        folder / META,
        json.dumps(
            {
                "fingerprint": fingerprint,
                "inputs": dict(inputs),
                "params": dict(params),
                "dim": dim,
                "shard_size": shard_size,
                "num_rows": num_rows,
                "num_shards": num_shards,
            },
            indent=2,
            sort_keys=True,
            default=str,
        ),
    )


def _clear(folder: Path, *, keep: set[str]) -> None:
    """Empty ``folder`` but for the entries named in ``keep``; the completion marker goes first, so
    an interrupted clear leaves an incomplete folder, never a "complete" one missing shards."""
    (folder / SUCCESS).unlink(missing_ok=True)
    for entry in folder.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def reusable_vectors(folder: Path, vector_params: Mapping[str, Any], hashes: Iterable[str | None]) -> pa.Table | None:
    """The vectors ``folder`` holds for content ``hashes`` — from its finished shards and what it
    carried over — as a table (hash, embedding), one row per hash found; None when it holds none
    or was made with other ``vector_params`` (model, preprocessing: a subset of its params)."""
    try:
        meta = read_run_meta(folder)
    except DamagedArtifactError:
        return None
    wanted = {h for h in hashes if h is not None}
    expected = json.loads(json.dumps(dict(vector_params), sort_keys=True, default=str))
    if meta is None or not wanted or {k: meta["params"].get(k) for k in expected} != expected:
        return None
    tables = []
    try:
        if (folder / CARRIED).exists():
            tables.append(read_parquet(folder / CARRIED))
        if (folder / HASHES).exists():
            listed = read_parquet(folder / HASHES)
            hash_of = dict(zip(listed.column("sample_id").to_pylist(), listed.column("hash").to_pylist()))
            for i in range(meta["num_shards"]):
                if shard_done(folder, i):
                    shard = read_parquet(shard_path(folder, i))
                    keys = pa.array([hash_of.get(sid) for sid in shard.column("sample_id").to_pylist()], pa.string())
                    tables.append(pa.table({"hash": keys, "embedding": shard.column("embedding")}))
    except DamagedArtifactError:
        return None  # embed everything again rather than trust a damaged folder
    seen: set[str] = set()
    found = []
    for table in tables:
        rows = []
        for row, key in enumerate(table.column("hash").to_pylist()):
            if key in wanted and key not in seen:
                seen.add(key)
                rows.append(row)
        found.append(table.take(pa.array(rows, pa.int64())))
    if not seen:
        return None
    return pa.concat_tables(found).combine_chunks()


def shard_done(folder: Path, index: int) -> bool:
    return _marker(folder, index).exists() and shard_path(folder, index).exists()


def write_shard(
    folder: Path,
    index: int,
    sample_ids: list[str],
    embeddings: np.ndarray,
    *,
    failures: Mapping[str, str] | None = None,
    precision: str = "float16",
) -> None:
    """Write shard ``index``: ``embeddings`` (n, D), L2-normalised, stored as ``precision``
    (a key of :data:`curate.schemas.EMBEDDING_PRECISIONS`).

    ``failures`` (sample_id -> reason) are the shard's samples that could not be embedded; they
    go into the completion marker so a resumed run still reports them.
    """
    write_parquet_atomic(shard_path(folder, index), _vector_table(sample_ids, embeddings, precision))
    write_text_atomic(_marker(folder, index), json.dumps(dict(failures or {}), sort_keys=True))


def _vector_table(sample_ids: list[str], embeddings: np.ndarray, precision: str) -> pa.Table:
    """(sample_id, embedding) rows of ``embeddings`` (n, D) stored as ``precision``."""
    emb = np.ascontiguousarray(embeddings, dtype=np.dtype(precision))
    dim = emb.shape[1]
    schema = embedding_shard_schema(dim, precision)
    values = pa.array(emb.reshape(-1), type=schema.field("embedding").type.value_type)
    column = pa.FixedSizeListArray.from_arrays(values, dim)
    return pa.Table.from_arrays([pa.array(sample_ids, type=pa.string()), column], schema=schema)


def write_caption_embeddings(
    folder: Path, sample_ids: list[str], embeddings: np.ndarray, *, precision: str = "float16"
) -> None:
    """Each captioned sample's caption embedding (M, D), L2-normalised, stored as ``precision``."""
    write_parquet_atomic(folder / CAPTIONS, _vector_table(sample_ids, embeddings, precision))


def read_caption_embeddings(folder: Path) -> tuple[list[str], np.ndarray] | None:
    """``(sample_ids, (M, D) float32)`` of the captioned samples, or None for data without captions."""
    path = folder / CAPTIONS
    if not path.exists():
        return None
    table = read_parquet(path)
    return table.column("sample_id").to_pylist(), fixed_list_to_numpy(table.column("embedding"), np.dtype(np.float32))


def read_failures(folder: Path) -> dict[str, str]:
    """sample_id -> reason for every sample a finished shard could not embed, in shard order."""
    out: dict[str, str] = {}
    for marker in sorted(folder.glob("part-*.done")):
        text = marker.read_text()
        if text.strip():
            out.update(json.loads(text))
    return out


def write_text_embeddings(folder: Path, class_names: list[str], embeddings: np.ndarray) -> None:
    """Class-name text embeddings (K, D) float32, L2-normalised, in class order."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    k, dim = emb.shape
    column = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), type=pa.float32()), dim)
    table = pa.Table.from_arrays([pa.array(class_names, type=pa.string()), column], schema=text_embedding_schema(dim))
    write_parquet_atomic(folder / TEXT, table)


def write_norms(folder: Path, sample_ids: list[str], norms: np.ndarray) -> None:
    """The length each imported vector had before normalisation, in row order (see :data:`NORMS`)."""
    table = pa.table(
        {"sample_id": pa.array(sample_ids, type=pa.string()), "norm": np.asarray(norms, dtype=np.float32)},
        schema=NORMS_SCHEMA,
    )
    write_parquet_atomic(folder / NORMS, table)


def read_norms(folder: Path) -> tuple[list[str], np.ndarray] | None:
    """``(sample_ids, norms (N,) float32)`` of an import whose vectors were not unit length, else None."""
    path = folder / NORMS
    if not path.exists():
        return None
    table = read_parquet(path, columns=["sample_id", "norm"])
    return table.column("sample_id").to_pylist(), table.column("norm").to_numpy().astype(np.float32)


def finish_run(folder: Path) -> None:
    """Mark the folder complete, after checking every shard is there."""
    meta = read_run_meta(folder)
    if meta is None:
        raise DataError(f"{folder} has no {META}; the embedding run never started")
    missing = [i for i in range(meta["num_shards"]) if not shard_done(folder, i)]
    if missing:
        raise DataError(f"{folder}: shards {missing[:5]} are not finished")
    (folder / CARRIED).unlink(missing_ok=True)  # every vector is in a shard now
    write_text_atomic(folder / SUCCESS, meta["fingerprint"] + "\n")


def fixed_list_to_numpy(column: pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    """A fixed-size list column of vectors -> an (N, D) array of ``dtype``."""
    arr = column.combine_chunks()
    dim = arr.type.list_size
    return arr.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(-1, dim)


def read_embeddings(folder: Path, *, dtype: np.dtype = np.float32) -> tuple[list[str], np.ndarray]:
    """All shards in order: ``(sample_ids, embeddings (N, D) dtype)``; the folder must be complete."""
    if not is_complete(folder):
        raise DataError(f"{folder} is incomplete; run `curate embed` (it resumes)")
    meta = read_run_meta(folder)
    assert meta is not None
    paths = [shard_path(folder, i) for i in range(meta["num_shards"])]
    # One (N, D) array filled shard by shard: holding every shard and then concatenating them
    # needed twice the embeddings' size (2 GB more at 1M x 512 float32).
    rows = 0
    for path in paths:
        with reading(path):
            rows += pq.ParquetFile(path).metadata.num_rows
    emb = np.empty((rows, int(meta["dim"])), dtype=dtype)
    ids: list[str] = []
    for path in paths:
        table = read_parquet(path)
        emb[len(ids) : len(ids) + table.num_rows] = fixed_list_to_numpy(table.column("embedding"), np.dtype(dtype))
        ids.extend(table.column("sample_id").to_pylist())
    return ids, emb


def read_text_embeddings(folder: Path) -> tuple[list[str], np.ndarray] | None:
    """``(class_names, (K, D) float32)`` or None when the model had no text tower / no labels."""
    path = folder / TEXT
    if not path.exists():
        return None
    table = read_parquet(path)
    return table.column("class_name").to_pylist(), fixed_list_to_numpy(table.column("embedding"), np.dtype(np.float32))
