"""Writer: collects encoded batches into shards and writes each one when it is complete."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.embed import store
from curate.embed.reader import SampleRows


class ShardWriter:
    """Buffers one shard at a time; shard ``i`` covers rows ``[i * shard_size, (i + 1) * shard_size)``.

    Batches must arrive shard by shard and never straddle a shard (see
    :func:`curate.embed.reader.shard_batches`); within a shard they may come in any order (reused
    vectors, then the encoded rest): a shard is written in row order, marker last, as soon as
    every one of its rows has been either embedded or recorded as failed.
    """

    def __init__(self, folder: Path, rows: SampleRows, *, shard_size: int, dim: int):
        self.folder = folder
        self.rows = rows
        self.shard_size = shard_size
        self.dim = dim
        self.failures: dict[str, str] = {}
        self.shards_written = 0
        self._reset(None)

    def _reset(self, shard: int | None) -> None:
        self._shard = shard
        self._seen = 0
        self._rows: list[int] = []
        self._parts: list[np.ndarray] = []
        self._failed: dict[str, str] = {}

    def _rows_in(self, shard: int) -> int:
        return min(self.shard_size, len(self.rows) - shard * self.shard_size)

    def add(self, indices: list[int], embeddings: np.ndarray, failed: list[tuple[int, str]]) -> None:
        """One batch: ``embeddings`` (b, D) float16 for rows ``indices``; ``failed`` (row, reason)."""
        first = indices[0] if indices else failed[0][0]
        shard = first // self.shard_size
        if self._shard is None:
            self._reset(shard)
        elif shard != self._shard:
            raise RuntimeError(f"batch of shard {shard} arrived before shard {self._shard} was complete")
        self._rows.extend(indices)
        if len(indices):
            self._parts.append(embeddings)
        for row, reason in failed:
            self._failed[self.rows.sample_id(row)] = reason
        self._seen += len(indices) + len(failed)
        if self._seen == self._rows_in(shard):
            self._flush()

    def _flush(self) -> None:
        assert self._shard is not None
        emb = np.concatenate(self._parts) if self._parts else np.zeros((0, self.dim), dtype=np.float16)
        order = np.argsort(self._rows, kind="stable")
        ids = [self.rows.sample_id(self._rows[i]) for i in order]
        store.write_shard(self.folder, self._shard, ids, emb[order], failures=self._failed)
        self.failures.update(self._failed)
        self.shards_written += 1
        self._reset(None)
