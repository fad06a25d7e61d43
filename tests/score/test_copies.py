"""Copies the embedding cannot see: pixel-identical files and perceptual-hash near copies, in the
one duplicate grouping (curate.score.copies, curate.score.duplicates)."""

from __future__ import annotations

import numpy as np

from curate.data import Embedded
from curate.graph.neighbors import exact_knn
from curate.graph.scale import measure_scale
from curate.score.copies import phash_pairs, pixel_keys
from curate.score.duplicates import find_duplicates


def _brute_force(hashes, usable, t):
    rows = np.flatnonzero(usable)
    u = hashes.view(np.uint64)
    return {(int(i), int(j)) for a, i in enumerate(rows) for j in rows[a + 1 :] if np.bitwise_count(u[i] ^ u[j]) <= t}


def test_phash_pairs_equal_a_brute_force_search():
    rng = np.random.default_rng(0)
    hashes = rng.integers(-(2**63), 2**63 - 1, 400, dtype=np.int64)
    for i in range(0, 60, 2):  # near copies: flip 0..8 bits of the previous hash
        flips = rng.choice(64, size=i % 9, replace=False)
        hashes[i + 1] = (hashes[i].view(np.uint64) ^ np.uint64(sum(1 << int(b) for b in flips))).view(np.int64)
    hashes[100:140] = hashes[99]  # a run of one degenerate hash
    usable = np.ones(400, dtype=bool)
    usable[[2, 3]] = False
    for t in (0, 3, 6):
        src, dst = phash_pairs(hashes, usable, t)
        assert set(zip(src.tolist(), dst.tolist())) == _brute_force(hashes, usable, t)
    assert phash_pairs(hashes, usable, -1)[0].size == 0


def test_pixel_keys_merge_files_of_the_same_pixels():
    digests = np.array(["aa", "bb", "aa", None, None], dtype=object)
    fallback = np.array([0, 1, 2, 3, 3])
    keys = pixel_keys(digests, fallback)
    assert keys[0] == keys[2] and keys[3] == keys[4] and len(set(keys.tolist())) == 3


def test_copies_join_the_embeddings_duplicate_groups():
    """Rows 0/1: pixel-identical files (other bytes); 2/3: perceptual near copies; 4/5 an
    embedding near pair and 5/6 a hash copy of it: one group of three; 7/8 blank pictures with
    the same hash, not grouped. The embedding alone sees only 4/5."""
    rng = np.random.default_rng(1)
    n = 20
    x = rng.standard_normal((n, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[5] = x[4] + 0.01 * rng.standard_normal(16)
    x[5] /= np.linalg.norm(x[5])
    data = Embedded(
        sample_ids=np.array([f"s{i}" for i in range(n)], dtype=object),
        embeddings=x,
        labels=np.zeros(n, dtype=np.int64),
        class_names=["a"],
        hashes=np.array([f"h{i}" for i in range(n)], dtype=object),
    )
    phash = rng.integers(-(2**62), 2**62, n, dtype=np.int64)
    phash[3] = phash[2] ^ 0b101
    phash[6] = phash[5] ^ 0b1
    phash[8] = phash[7]
    digests = np.array([f"d{i}" for i in range(n)], dtype=object)
    digests[1] = digests[0]
    stats = {"pixel_digest": digests, "phash": phash, "measured": np.ones(n, dtype=bool)}
    hashable = np.ones(n, dtype=bool)
    hashable[[7, 8]] = False
    graph = exact_knn(x, 3)
    scale = measure_scale(graph[1], duplicate_threshold=0.99)
    res = find_duplicates(data, graph, scale=scale, image_stats=stats, hashable=hashable)
    assert res.group[0] == res.group[1] and res.kind[0] == "exact"
    assert res.group[2] == res.group[3] and res.kind[2] == "near"
    assert res.group[4] == res.group[5] == res.group[6]
    assert res.group[7] is None and res.group[8] is None
    alone = find_duplicates(data, graph, scale=scale)
    assert [g is not None for g in alone.group[:7]] == [False, False, False, False, True, True, False]
