"""Copies the embedding cannot see: pixel-identical files and perceptual-hash near copies.

The index measures each image's pixel digest and 64-bit perceptual hash
(:mod:`curate.index.properties`); :func:`pixel_keys` turns the digests into content keys (a PNG
and a BMP of the same pixels are one picture) and :func:`phash_pairs` finds every pair of images
whose hashes differ in at most ``max_distance`` bits. Both become edges of the one duplicate graph
(:func:`curate.score.duplicates.duplicate_components`), beside the embedding's near duplicates,
so the keeper rule, leakage and the report see a single grouping.

The default distance, :data:`curate.config.DEFAULT_PHASH_DISTANCE` (2 of 64 bits), is what most
resized, re-encoded or slightly brightened copies stay within (measured on photo crops: 0 or 2
bits for 54 % of such copies, up to 6 for 93 %), while unrelated photos differ in about 32; wider
cuts join look-alikes in pictures with little detail (at 6 bits, 37 pairs of distinct 8 x 8
handwritten digits, upsampled, against 10 at 2), so a wider one is an explicit choice
(``curate score --phash-distance``). Images with no picture to hash (flat, blank: ``low_information``)
are left out: their hashes are noise around a constant.
"""

from __future__ import annotations

import numpy as np

#: pairs in one chunk bucket compared per sample, at most (a bucket larger than this is a run of
#: degenerate hashes; its members are still compared with their nearest in sort order)
MAX_BUCKET_OFFSET = 64


def pixel_keys(digests: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """(N,) int64 content keys: equal for samples with the same pixel digest, else the
    ``fallback`` key's class (:func:`curate.score.duplicates.exact_keys`: the bytes' hash).

    digests:  (N,) object, hex digests or None where not measured
    fallback: (N,) int64 keys of the encoded bytes
    Two files with the same bytes have the same pixels, so the keys only merge classes.
    """
    n = len(digests)
    labels = np.where(
        np.array([d is not None for d in digests], dtype=bool),
        np.asarray(digests, dtype=object),
        np.char.add("bytes:", fallback.astype(str)).astype(object),
    )
    _, keys = np.unique(labels.astype(str), return_inverse=True)
    return keys.astype(np.int64).reshape(n)


def phash_pairs(hashes: np.ndarray, usable: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of usable samples whose 64-bit hashes differ in <= ``max_distance`` bits.

    hashes: (N,) int64 perceptual hashes;  usable: (N,) bool, samples with a picture to hash
    Returns (src, dst) int64 arrays. By the pigeonhole principle two hashes within the distance
    agree on one of ``max_distance + 1`` chunks of their bits, so only samples that share a
    chunk's value are compared: O(N log N) rather than O(N^2).
    """
    rows = np.flatnonzero(usable)
    if rows.size < 2 or max_distance < 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    values = hashes[rows].view(np.uint64)
    chunks = max_distance + 1
    edges = np.linspace(0, 64, chunks + 1).round().astype(int)
    found: list[np.ndarray] = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        chunk = (values >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(chunk, kind="stable")
        sorted_chunk = chunk[order]
        for offset in range(1, min(MAX_BUCKET_OFFSET, rows.size - 1) + 1):
            same = np.flatnonzero(sorted_chunk[offset:] == sorted_chunk[:-offset])
            if same.size == 0:
                break  # no bucket holds more than `offset` samples
            a, b = order[same], order[same + offset]
            close = np.bitwise_count(values[a] ^ values[b]) <= max_distance
            if close.any():
                found.append(np.stack([np.minimum(a[close], b[close]), np.maximum(a[close], b[close])], axis=1))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    pairs = np.unique(np.concatenate(found), axis=0)
    return rows[pairs[:, 0]], rows[pairs[:, 1]]
