"""Exact and near duplicates, and train/test leakage, from content hashes and the neighbour graph.

* **exact**: samples with the same content hash (``Embedded.hashes``, the encoded bytes) or the
  same decoded pixels (the index's pixel digest: a PNG and a BMP of one picture); for array
  inputs, which have no hashes, bit-identical embedding rows.
* **copies**: images whose perceptual hashes are within a few bits (resized, re-encoded,
  retouched copies; :mod:`curate.score.copies`), which a coarse embedding may not put close.
* **near**: pairs in the neighbour graph that the space's :class:`~curate.graph.scale.SimilarityScale`
  calls near-duplicates (:meth:`~curate.graph.scale.SimilarityScale.near_duplicate_pairs`): by
  default closer than a fixed share of the median nearest-neighbour distance, so the cut follows
  the geometry (CLIP, a metric-learning model and raw pixels put copies at very different
  cosines), or mutual nearest neighbours far closer than their own neighbourhoods' spacing; an
  explicit cosine threshold replaces both.

Both kinds of pair are edges of one graph; its connected components (scipy.sparse.csgraph) are
the duplicate groups. Within a group one member is kept: for images the largest (width x
height), ties broken by the first row; for arrays the first row. Every other member is
``is_duplicate`` (a redundant copy). A group whose members lie in more than one split is train/
test leakage: every member gets ``is_leak``, and the groups and samples are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.config import DEFAULT_PHASH_DISTANCE
from curate.data import Embedded
from curate.errors import DataError
from curate.graph.scale import SimilarityScale, measure_scale


@dataclass
class DuplicateResult:
    """Per-sample duplicate findings, row-aligned with the Embedded data.

    is_duplicate: (N,) bool, a redundant copy (a group member that is not the keeper)
    group:        (N,) object, group id (str, the keeper's sample_id) shared by every member; None if none
    kind:         (N,) object, ``"exact"`` (every member identical) or ``"near"``; None if none
    keep:         (N,) object, True for the keeper, False for other members, None outside groups
    is_leak:      (N,) bool, member of a group that spans more than one split
    component:    (N,) int64 component of the duplicate graph (:func:`duplicate_components`): equal
                  for the members of a group, unique for every other sample
    num_groups, num_exact_groups, num_near_groups: group counts
    num_duplicates: redundant copies (``is_duplicate.sum()``)
    num_leak_groups, num_leaked_samples: train/test leakage counts
    """

    is_duplicate: np.ndarray
    group: np.ndarray
    kind: np.ndarray
    keep: np.ndarray
    is_leak: np.ndarray
    component: np.ndarray
    num_groups: int
    num_exact_groups: int
    num_near_groups: int
    num_duplicates: int
    num_leak_groups: int
    num_leaked_samples: int

    def summary(self) -> dict[str, int | float]:
        n = len(self.is_duplicate)
        return {
            "duplicate_groups": self.num_groups,
            "exact_duplicate_groups": self.num_exact_groups,
            "near_duplicate_groups": self.num_near_groups,
            "duplicates": self.num_duplicates,
            "duplicate_rate": self.num_duplicates / n if n else 0.0,
            "leak_groups": self.num_leak_groups,
            "leaked_samples": self.num_leaked_samples,
        }


def exact_keys(data: Embedded) -> np.ndarray:
    """(N,) int64 key per sample; equal keys <=> identical content.

    Content hashes when the data has them (rows without a hash get a unique key), otherwise
    identical embedding rows, found by hashing each row's bytes and confirming equality.
    """
    n = len(data)
    if data.hashes is not None:
        hashes = np.asarray(data.hashes, dtype=object)
        missing = np.array([h is None for h in hashes])
        filled = np.where(missing, np.arange(n).astype(str).astype(object) + "\0", hashes)
        _, keys = np.unique(filled.astype(str), return_inverse=True)
        return keys.astype(np.int64)
    return _identical_rows(data.embeddings)


def _identical_rows(x: np.ndarray, block: int = 16384) -> np.ndarray:
    """(N,) int64 key per row of (N, D) float32 ``x``; rows share a key only when bit-identical."""
    n = x.shape[0]
    words = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).reshape(n, -1)
    rng = np.random.default_rng(12345)
    weights = rng.integers(1, 2**63, size=words.shape[1], dtype=np.uint64) | np.uint64(1)
    digest = np.empty(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, n, block):
            # a random linear hash of the words, wrapping mod 2^64; collisions are checked below
            digest[start : start + block] = (words[start : start + block].astype(np.uint64) * weights).sum(axis=1)
    _, keys = np.unique(digest, return_inverse=True)
    keys = keys.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    for pos in same:  # only rows whose digests collide are compared in full
        a, b = order[pos], order[pos + 1]
        if not np.array_equal(words[a], words[b]):
            keys[b] = n + b  # a hash collision between different rows: split them
    return keys


def duplicate_components(
    keys: np.ndarray,
    neighbors: tuple[np.ndarray, np.ndarray],
    scale: SimilarityScale,
    copies: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(N,) int64 component id of every sample in the duplicate graph.

    keys:      (N,) int64 content keys from :func:`exact_keys` (equal keys: identical content)
    neighbors: ``(idx (N, k) int64, sims (N, k) float32)``, self excluded, -1 for empty slots
    scale:     decides which neighbour pairs are near-duplicates
    copies:    (src, dst) int64 pairs of near copies found outside the embedding (perceptual
               hashes, :func:`curate.score.copies.phash_pairs`), or None
    Edges join identical content, near-duplicate pairs and those copies; a sample without duplicates is a
    component of its own. The one grouping behind duplicate groups and the probe's folds.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(keys)
    idx, sims = neighbors
    # exact edges: each row to the first row with its key (a star per key)
    order = np.argsort(keys, kind="stable")
    first_of_key = np.empty(n, dtype=np.int64)
    sorted_keys = keys[order]
    starts = np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])
    first_of_key[order] = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    exact_src = np.flatnonzero(first_of_key != np.arange(n))
    exact_dst = first_of_key[exact_src]

    near = scale.near_duplicate_pairs(idx, sims)
    near_src = np.repeat(np.arange(n), near.sum(axis=1))
    near_dst = idx[near]

    copy_src, copy_dst = copies if copies is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    src = np.concatenate([exact_src, near_src, copy_src])
    dst = np.concatenate([exact_dst, near_dst, copy_dst])
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=True, connection="weak")
    return comp.astype(np.int64)


def find_duplicates(
    data: Embedded,
    neighbors: tuple[np.ndarray, np.ndarray],
    *,
    scale: SimilarityScale | None = None,
    sizes: np.ndarray | None = None,
    image_stats: dict[str, np.ndarray] | None = None,
    hashable: np.ndarray | None = None,
    phash_distance: int = DEFAULT_PHASH_DISTANCE,
) -> DuplicateResult:
    """Group exact and near duplicates and flag train/test leakage.

    data:      Embedded samples (``hashes`` and ``splits`` are used when present)
    neighbors: ``(idx (N, k) int64, sims (N, k) float32)`` from the neighbour graph, self
               excluded, -1 for empty slots (see :func:`curate.graph.stage.load_neighbors`)
    scale:     the space's near-duplicate decision; None measures it from ``neighbors``
               (:func:`curate.graph.scale.measure_scale` defaults)
    sizes:     (N,) image area in pixels (width x height from samples.parquet; NaN/<=0 when
               unknown) to keep the largest copy; None keeps the first row
    image_stats: what the index measured of each image (:func:`curate.score.defects.load_image_stats`):
               equal pixel digests are exact copies whatever the file format, and perceptual
               hashes within ``phash_distance`` bits are near copies (:mod:`curate.score.copies`);
               None (array inputs): neither
    hashable:  (N,) bool, images with a picture to hash (not blank); None: every measured one
    """
    n = len(data)
    idx, sims = neighbors
    if idx.shape[0] != n or sims.shape != idx.shape:
        raise DataError(f"neighbour arrays {idx.shape} do not match {n} samples; re-run `curate neighbors`")
    if scale is None:
        scale = measure_scale(sims)

    keys = exact_keys(data)
    copies = None
    if image_stats is not None:
        from curate.score.copies import phash_pairs, pixel_keys

        keys = pixel_keys(image_stats["pixel_digest"], keys)
        usable = image_stats["measured"] if hashable is None else hashable & image_stats["measured"]
        copies = phash_pairs(image_stats["phash"], usable, phash_distance)
    comp = duplicate_components(keys, neighbors, scale, copies)
    comp_size = np.bincount(comp)
    member = comp_size[comp] > 1

    is_duplicate = np.zeros(n, dtype=bool)
    group = np.full(n, None, dtype=object)
    kind = np.full(n, None, dtype=object)
    keep = np.full(n, None, dtype=object)
    is_leak = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(member)
    if rows.size == 0:
        return DuplicateResult(is_duplicate, group, kind, keep, is_leak, comp, 0, 0, 0, 0, 0, 0)

    # keeper: largest area, then first row. Sort members by (component, -area, row).
    area = (
        np.zeros(n, dtype=np.float64) if sizes is None else np.nan_to_num(np.asarray(sizes, dtype=np.float64), nan=0.0)
    )
    if len(area) != n:
        raise DataError(f"sizes has {len(area)} rows but there are {n} samples")
    by_group = rows[np.lexsort((rows, -area[rows], comp[rows]))]
    g = comp[by_group]
    first = np.concatenate([[True], g[1:] != g[:-1]])
    keepers = by_group[first]
    keeper_of_comp = np.full(comp_size.size, -1, dtype=np.int64)
    keeper_of_comp[comp[keepers]] = keepers

    keep[rows] = False
    keep[keepers] = True
    is_duplicate[rows] = True
    is_duplicate[keepers] = False
    group[rows] = np.asarray(data.sample_ids, dtype=object)[keeper_of_comp[comp[rows]]]

    # a group is exact when all its members share one content key
    keys_per_comp = _distinct_per_group(comp[rows], keys[rows], comp_size.size)
    exact_comp = keys_per_comp == 1
    kind[rows] = np.where(exact_comp[comp[rows]], "exact", "near")
    groups = np.unique(comp[rows])
    num_exact = int(exact_comp[groups].sum())

    num_leak_groups = 0
    if data.splits is not None:
        _, split_code = np.unique(np.asarray(data.splits, dtype=str), return_inverse=True)
        splits_per_comp = _distinct_per_group(comp[rows], split_code[rows], comp_size.size)
        leak_comp = splits_per_comp > 1
        is_leak[rows] = leak_comp[comp[rows]]
        num_leak_groups = int(leak_comp[groups].sum())

    return DuplicateResult(
        is_duplicate=is_duplicate,
        group=group,
        kind=kind,
        keep=keep,
        is_leak=is_leak,
        component=comp,
        num_groups=len(groups),
        num_exact_groups=num_exact,
        num_near_groups=len(groups) - num_exact,
        num_duplicates=int(is_duplicate.sum()),
        num_leak_groups=num_leak_groups,
        num_leaked_samples=int(is_leak.sum()),
    )


def _distinct_per_group(groups: np.ndarray, values: np.ndarray, num_groups: int) -> np.ndarray:
    """(num_groups,) number of distinct ``values`` within each group id of ``groups``."""
    pairs = np.unique(np.stack([groups, values.astype(np.int64)]), axis=1)
    return np.bincount(pairs[0], minlength=num_groups)
