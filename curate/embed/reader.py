"""Reader: readable rows of samples.parquet -> batches of preprocessed image tensors.

Decoding runs in DataLoader worker processes. Batches never straddle a shard boundary, so every
shard is computed from exactly the same batches whether the run is fresh or resumed (which is
what makes a resumed run byte-identical to an uninterrupted one). A sample that fails to decode
here is returned as a failure with its reason rather than raised: one bad file must not end a
run of hours. A remote read that fails for good (its retries exhausted: the store is down, not
the file bad) is carried to the main process in the batch and raised there as the one-line
error it is, after the shards already written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from torch.utils.data import Dataset

from curate.embed.decode import RawItem, read_raw
from curate.index.images import UnreadableImage, decode_rgb, read_bytes
from curate.index.remote import RemoteReadError


@dataclass
class SampleRows:
    """The rows to embed, in samples.parquet order. Arrow arrays rather than Python lists, so
    forked workers share them without copy-on-write churn from reference counts."""

    sample_ids: pa.Array
    paths: pa.Array
    members: pa.Array
    sources: pa.Array
    hashes: pa.Array  # content hash of the encoded bytes (null when unknown): what a vector is reused by

    def __len__(self) -> int:
        return len(self.sample_ids)

    def sample_id(self, i: int) -> str:
        return self.sample_ids[i].as_py()


def readable_rows(samples: pa.Table) -> SampleRows:
    """The readable rows of a samples table (``readable`` true), in file order."""
    kept = samples.filter(pc.equal(samples.column("readable"), True))
    return SampleRows(
        *(kept.column(name).combine_chunks() for name in ("sample_id", "path", "member", "source", "hash"))
    )


class ImageDataset(Dataset):
    """Map-style dataset: row ``i`` -> ``(i, image (3, H, W) float32 | None, error | None, seconds)``;
    ``error`` is the reason a sample failed, or the :class:`RemoteReadError` that ends the run.

    ``image_size`` (H, W), the model input: libjpeg then decodes a large JPEG at 1/2, 1/4 or 1/8
    scale when that still covers it (most of the decode time for photos far larger than 224 px).
    """

    def __init__(self, rows: SampleRows, preprocess: Any, *, image_size: tuple[int, int] | None):
        super().__init__()
        self.rows = rows
        self.preprocess = preprocess
        self.draft_size = None if image_size is None else (image_size[1], image_size[0])  # PIL: (w, h)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[int, Any, str | RemoteReadError | None, float]:
        start = time.perf_counter()
        rows = self.rows
        try:
            data = read_bytes(rows.paths[i].as_py(), rows.members[i].as_py(), rows.sources[i].as_py())
            image = decode_rgb(data, draft_size=self.draft_size)
        except UnreadableImage as exc:
            return i, None, str(exc), time.perf_counter() - start
        except RemoteReadError as exc:  # raised in the main process (a worker's traceback is not one line)
            return i, None, exc, time.perf_counter() - start
        except (OSError, KeyError) as exc:
            return i, None, f"cannot read: {exc}", time.perf_counter() - start
        try:
            tensor = self.preprocess(image)
        except Exception as exc:  # noqa: BLE001 - any odd image is one failure, not a dead run
            return i, None, f"preprocessing failed: {type(exc).__name__}: {exc}", time.perf_counter() - start
        return i, tensor, None, time.perf_counter() - start


class RawImageDataset(Dataset):
    """Map-style dataset for ``--decode gpu``: row ``i`` -> ``(RawItem, seconds)``, the bytes of
    a JPEG the device decodes or the CPU-decoded pixels of anything else
    (:func:`curate.embed.decode.read_raw`)."""

    def __init__(self, rows: SampleRows):
        super().__init__()
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[RawItem, float]:
        start = time.perf_counter()
        rows = self.rows
        try:
            data = read_bytes(rows.paths[i].as_py(), rows.members[i].as_py(), rows.sources[i].as_py())
        except RemoteReadError as exc:  # raised in the main process, as ImageDataset's
            return RawItem(i, error=str(exc), fatal=exc), time.perf_counter() - start
        except (OSError, KeyError) as exc:
            return RawItem(i, error=f"cannot read: {exc}"), time.perf_counter() - start
        return read_raw(data, i), time.perf_counter() - start


def collate_raw(items: Sequence[tuple[RawItem, float]]) -> tuple[list[RawItem], float]:
    """A batch of raw items and the worker seconds spent reading them."""
    return [item for item, _ in items], sum(s for _, s in items)


@dataclass
class Batch:
    """One batch from the loader.

    indices:        (b,) int64 row numbers (into :class:`SampleRows`) of the decoded images
    images:         (b, 3, H, W) float32, or None when every sample of the batch failed
    failed:         (row, reason) for samples that could not be decoded
    decode_seconds: worker time spent reading, decoding and preprocessing this batch
    fatal:          a remote read that failed for good; the runner raises it
    """

    indices: Any
    images: Any
    failed: list[tuple[int, str]]
    decode_seconds: float
    fatal: RemoteReadError | None = None

    def pin_memory(self) -> Batch:
        images = None if self.images is None else self.images.pin_memory()
        return Batch(self.indices, images, self.failed, self.decode_seconds, self.fatal)


def collate(items: Sequence[tuple[int, Any, str | RemoteReadError | None, float]]) -> Batch:
    import torch

    good = [(i, t) for i, t, _, _ in items if t is not None]
    failed = [(i, str(err)) for i, t, err, _ in items if t is None]
    fatal = next((err for *_, err, _ in items if isinstance(err, RemoteReadError)), None)
    indices = torch.tensor([i for i, _ in good], dtype=torch.int64)
    images = torch.stack([t for _, t in good]) if good else None
    return Batch(indices, images, failed, sum(s for *_, s in items), fatal)


def shard_batches(shards: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Row indices per batch: each shard's rows to encode, in order, cut into ``batch_size`` chunks."""
    return [list(rows[b : b + batch_size]) for rows in shards for b in range(0, len(rows), batch_size)]


def make_loader(dataset: ImageDataset | RawImageDataset, batches: list[list[int]], *, workers: int, pin_memory: bool):
    """A DataLoader yielding :class:`Batch` (for an :class:`ImageDataset`) or ``(raw items,
    seconds)`` (for a :class:`RawImageDataset`) in ``batches`` order (deterministic with any workers)."""
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=collate_raw if isinstance(dataset, RawImageDataset) else collate,
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
