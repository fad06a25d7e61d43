"""A content-keyed embedding cache that several workspaces share (``--cache DIR``).

Two datasets that share images (two crops of one collection, a train set and its cleaned copy)
embed each image once. Layout::

    DIR/<key>/part-<random>.parquet    hash (content hash), embedding (float16 list)

``key`` is a digest of the vector parameters (model identity and preprocessing,
:data:`curate.embed.runner.VECTOR_PARAMS`), so another model never reads this model's vectors.
Each run that encodes something adds one part file, written under a temporary name and renamed
(:func:`curate.storage.write_parquet_atomic`): concurrent writers never see or clobber each
other's halves, and a reader sees whole files only. A damaged part file is skipped (its images
are simply encoded again). The cache only ever adds files; delete ``DIR`` (or one key folder)
to reclaim the space.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.errors import DamagedArtifactError
from curate.storage import params_digest, read_parquet, write_parquet_atomic


def key_folder(root: str | Path, vector_params: Mapping[str, Any]) -> Path:
    """The folder of ``root`` that holds vectors made with ``vector_params``."""
    return Path(root) / params_digest(vector_params)[:16]


def lookup(root: str | Path, vector_params: Mapping[str, Any], hashes: Iterable[str | None]) -> pa.Table | None:
    """The cached vectors of ``hashes`` as a table (hash, embedding), one row per hash found;
    None when the cache holds none of them."""
    wanted = {h for h in hashes if h is not None}
    folder = key_folder(root, vector_params)
    if not wanted or not folder.is_dir():
        return None
    seen: set[str] = set()
    found = []
    for part in sorted(folder.glob("part-*.parquet")):
        try:
            table = read_parquet(part)
        except DamagedArtifactError:
            continue  # a half-written or damaged part: its images are encoded again
        rows = []
        for row, key in enumerate(table.column("hash").to_pylist()):
            if key in wanted and key not in seen:
                seen.add(key)
                rows.append(row)
        if rows:
            found.append(table.take(pa.array(rows, pa.int64())))
    return pa.concat_tables(found).combine_chunks() if found else None


def add(root: str | Path, vector_params: Mapping[str, Any], hashes: list[str], vectors: np.ndarray) -> None:
    """Add (N,) content hashes with their (N, D) vectors (stored float16) as one new part file."""
    if not hashes:
        return
    emb = np.ascontiguousarray(vectors, dtype=np.float16)
    column = pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1), type=pa.float16()), emb.shape[1])
    table = pa.table({"hash": pa.array(hashes, pa.string()), "embedding": column})
    part = key_folder(root, vector_params) / f"part-{secrets.token_hex(8)}.parquet"
    write_parquet_atomic(part, table, params=dict(vector_params))
