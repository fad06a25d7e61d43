"""Synthetic embeddings whose ground truth is known, with CLIP-like geometry.

Real CLIP image embeddings share a large common component: two unrelated images have cosine
about 0.5, two images of the same class about 0.6. The generator builds each embedding as

    x = sqrt(common) * c  +  sqrt(klass) * class_centre  +  sqrt(sub) * subcluster_centre  +  noise

with near-orthogonal random directions in D dimensions, then L2-normalises. So unrelated pairs
have cosine ~ ``common``, same-class pairs ~ ``common + klass`` (+ ``sub`` within a
sub-cluster). Confusable classes share part of their centre (``confusion_overlap``), which is
where real label noise concentrates, so planted label flips go mostly to the confusable
partner (class-conditional noise). Near-duplicates, exact duplicates and outliers are planted
with flags, and class-name "text" embeddings are produced for zero-shot scoring.

``spread`` sets how concentrated the space is, so the same ground truth can be drawn in other
geometries than CLIP's: it scales the idiosyncratic ``noise`` term (and with it an outlier's
share of noise and the near-duplicate jitter, so both keep their place relative to ordinary
neighbours). ``spread=1`` is the CLIP-like default above (median nearest-neighbour cosine ~0.7
at D=256); ``spread=0.1`` gives a tight space whose nearest-neighbour cosine is ~0.99, like a
metric-learning model's; ``spread=2`` a diffuse one (nearest neighbour ~0.4, same-class pairs
~0.30 against ~0.24 for unrelated ones).

Everything is deterministic given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SyntheticDataset:
    """Ground-truth-annotated synthetic data.

    embeddings:       (N, D) float32, L2-normalised
    labels:           (N,) int64 given (possibly wrong) labels
    true_labels:      (N,) int64 correct labels (outliers keep the label they were given)
    class_names:      K names
    is_noisy:         (N,) bool, label differs from the true label
    duplicate_group:  (N,) int64, -1 or the id shared by a source and its (near-)copies
    is_exact_duplicate: (N,) bool, a bit-identical copy of an earlier row
    is_outlier:       (N,) bool, an image of no class at all
    text_embeddings:  (K, D) float32 class-name embeddings, L2-normalised
    confusable:       (K,) int64, the class each class is confusable with (-1 if none)
    """

    embeddings: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    class_names: list[str]
    is_noisy: np.ndarray
    duplicate_group: np.ndarray
    is_exact_duplicate: np.ndarray
    is_outlier: np.ndarray
    text_embeddings: np.ndarray
    confusable: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def is_duplicate(self) -> np.ndarray:
        """(N,) bool: a member of any duplicate group (source included)."""
        return self.duplicate_group >= 0


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def class_counts(n: int, num_classes: int, imbalance_ratio: float) -> np.ndarray:
    """Long-tailed (exponential profile) class sizes summing to ``n``; head/tail = imbalance_ratio."""
    if num_classes == 1:
        return np.array([n])
    profile = imbalance_ratio ** (-np.arange(num_classes) / (num_classes - 1))
    counts = np.maximum(2, np.floor(profile / profile.sum() * n)).astype(np.int64)
    counts[0] += n - counts.sum()
    return counts


def make_dataset(
    n: int = 20_000,
    num_classes: int = 50,
    *,
    dim: int = 512,
    imbalance_ratio: float = 50.0,
    max_subclusters: int = 4,
    common: float = 0.50,
    klass: float = 0.09,
    sub: float = 0.05,
    confusable_fraction: float = 0.4,
    confusion_overlap: float = 0.7,
    noise_rate: float = 0.15,
    noise_to_confusable: float = 0.7,
    near_duplicate_fraction: float = 0.02,
    exact_duplicate_fraction: float = 0.01,
    near_duplicate_jitter: float = 0.05,
    outlier_fraction: float = 0.01,
    spread: float = 1.0,
    seed: int = 0,
) -> SyntheticDataset:
    """Generate a dataset; see the module docstring for the geometry. ``n`` counts every row.

    ``spread`` (> 0) multiplies the idiosyncratic noise of every row: below 1 the classes and
    sub-clusters tighten (nearest-neighbour cosine towards 1), above 1 they dissolve into noise.
    An outlier's idiosyncratic part grows or shrinks by the same noise variance, and the
    near-duplicate jitter stays ``near_duplicate_jitter`` times the noise a normalised row
    carries, so outliers and copies sit where they do at ``spread=1`` relative to ordinary
    neighbours. ``spread=1`` reproduces the output of earlier versions bit for bit.
    """
    if spread <= 0:
        raise ValueError(f"spread must be positive, got {spread}")
    rng = np.random.default_rng(seed)
    n_near = int(round(n * near_duplicate_fraction))
    n_exact = int(round(n * exact_duplicate_fraction))
    n_out = int(round(n * outlier_fraction))
    n_base = n - n_near - n_exact - n_out
    if n_base < 2 * num_classes:
        raise ValueError(f"n={n} is too small for {num_classes} classes")

    c = _unit(rng.standard_normal(dim)).astype(np.float32)
    centres = _unit(rng.standard_normal((num_classes, dim))).astype(np.float32)
    confusable = np.full(num_classes, -1, dtype=np.int64)
    order = rng.permutation(num_classes)
    n_pairs = int(num_classes * confusable_fraction) // 2
    for a, b in order[: 2 * n_pairs].reshape(-1, 2):
        centres[b] = _unit(confusion_overlap * centres[a] + np.sqrt(1 - confusion_overlap**2) * centres[b])
        confusable[a], confusable[b] = b, a

    counts = class_counts(n_base, num_classes, imbalance_ratio)
    true = np.repeat(np.arange(num_classes), counts)
    nsub = rng.integers(1, max_subclusters + 1, size=num_classes)
    subcentres = [_unit(rng.standard_normal((k, dim))).astype(np.float32) for k in nsub]
    sub_of = np.array([rng.integers(0, nsub[k]) for k in true])
    noise_scale = np.sqrt(max(1e-6, 1.0 - common - klass - sub))
    signal_variance = common + klass + sub
    # How much longer (shorter) an unnormalised row is than at spread 1. Both factors are exactly
    # 1 and 0 at spread 1, which keeps the default output bit for bit; norm_growth is a Python
    # float, as the jitter literal was, because a NumPy float64 would promote the float32 sum.
    norm_growth = float(np.sqrt((signal_variance + spread**2 * noise_scale**2) / (signal_variance + noise_scale**2)))
    outlier_scale = np.sqrt(1 - common * 0.8 + (spread**2 - 1) * noise_scale**2)

    emb = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n_base, 65536):
        stop = min(start + 65536, n_base)
        t = true[start:stop]
        s = np.stack([subcentres[k][j] for k, j in zip(t, sub_of[start:stop])])
        eps = _unit(rng.standard_normal((stop - start, dim)).astype(np.float32))
        emb[start:stop] = (
            np.sqrt(common) * c + np.sqrt(klass) * centres[t] + np.sqrt(sub) * s + spread * noise_scale * eps
        )

    # Outliers: the common "photo" component, no class, more idiosyncratic content (content of
    # their own in place of the class and sub-cluster, plus the same noise as any row).
    out_rows = np.arange(n_base, n_base + n_out)
    if n_out:
        eps = _unit(rng.standard_normal((n_out, dim)).astype(np.float32))
        emb[out_rows] = np.sqrt(common * 0.8) * c + outlier_scale * eps
    out_labels = rng.integers(0, num_classes, size=n_out)

    # Duplicates copy base rows (class-stratified by sampling rows uniformly).
    dup_group = np.full(n, -1, dtype=np.int64)
    is_exact = np.zeros(n, dtype=bool)
    near_rows = np.arange(n_base + n_out, n_base + n_out + n_near)
    exact_rows = np.arange(n_base + n_out + n_near, n)
    sources = rng.choice(n_base, size=n_near + n_exact, replace=False)
    for row, src in zip(np.concatenate([near_rows, exact_rows]), sources):
        dup_group[src] = src
        dup_group[row] = src
    if n_near:
        jitter = _unit(rng.standard_normal((n_near, dim)).astype(np.float32))
        emb[near_rows] = _unit(emb[sources[:n_near]]) + near_duplicate_jitter * spread / norm_growth * jitter
    emb[: n_base + n_out + n_near] = _unit(emb[: n_base + n_out + n_near])
    if n_exact:
        emb[exact_rows] = emb[sources[n_near:]]
        is_exact[exact_rows] = True

    true_all = np.concatenate([true, out_labels, true[sources]]).astype(np.int64)

    # Class-conditional label noise on base rows; copies inherit their source's given label
    # half of the time (a duplicate scraped twice usually carries the same caption).
    given = true_all.copy()
    flip = rng.random(n_base) < noise_rate
    for i in np.flatnonzero(flip):
        k = true[i]
        if confusable[k] >= 0 and rng.random() < noise_to_confusable:
            given[i] = confusable[k]
        else:
            other = rng.integers(0, num_classes - 1)
            given[i] = other if other < k else other + 1
    copies = np.concatenate([near_rows, exact_rows])
    inherit = rng.random(len(copies)) < 0.5
    given[copies[inherit]] = given[sources[inherit]]
    is_noisy = given != true_all
    is_noisy[out_rows] = False  # an outlier's label is not "wrong", it has no right one

    text_noise = _unit(rng.standard_normal((num_classes, dim)).astype(np.float32))
    c_text = _unit(rng.standard_normal(dim)).astype(np.float32)
    # Image-text cosine in CLIP is ~0.3 for the right class, ~0.2 otherwise.
    text = _unit(0.35 * centres + 0.25 * c + 0.6 * c_text + 0.65 * text_noise)

    width = len(str(num_classes - 1))
    names = [f"class_{k:0{width}d}" for k in range(num_classes)]
    return SyntheticDataset(
        embeddings=emb,
        labels=given,
        true_labels=true_all,
        class_names=names,
        is_noisy=is_noisy,
        duplicate_group=dup_group,
        is_exact_duplicate=is_exact,
        is_outlier=np.isin(np.arange(n), out_rows),
        text_embeddings=text.astype(np.float32),
        confusable=confusable,
        params=dict(
            n=n,
            num_classes=num_classes,
            dim=dim,
            imbalance_ratio=imbalance_ratio,
            noise_rate=noise_rate,
            spread=spread,
            seed=seed,
        ),
    )


@dataclass
class SyntheticPairs:
    """Image-text pairs whose truth is known (:func:`make_pairs`).

    images:   (N, D) float32, L2-normalised image embeddings
    texts:    (N, D) float32, L2-normalised caption embeddings, row i the caption given to image i
    swapped:  (N,) bool, the caption given to image i is another image's (a planted mismatch)
    concepts: (N,) int64, the concept each image shows
    """

    images: np.ndarray
    texts: np.ndarray
    swapped: np.ndarray
    concepts: np.ndarray


def make_pairs(
    n: int,
    *,
    num_concepts: int = 100,
    dim: int = 256,
    unrelated: float = 0.12,
    matched: float = 0.31,
    concept_share: float = 0.4,
    swap_rate: float = 0.1,
    seed: int = 0,
) -> SyntheticPairs:
    """Image and caption embeddings of ``n`` pairs in a two-tower space with a modality gap.

    Each vector is a sum of near-orthogonal unit directions with squared weights that add to 1:
    a direction both modalities share (weight ``unrelated``: the cosine of an unrelated image and
    caption), the image's concept (``concept_share`` of ``matched - unrelated``) and its own
    details (the rest of it; the caption describes both, to a degree that varies from pair to
    pair), a per-modality offset (the modality gap) and noise. So a right caption scores about
    ``matched``, a caption of another image of the same concept less, an unrelated one about
    ``unrelated``: ``(0.12, 0.31)`` is roughly ViT-B/32's scale (LAION's 0.28 cut sits between).
    ``swap_rate`` of the captions are swapped to another image's (never of the same concept)."""
    if not 0.0 <= unrelated < matched < 1.0:
        raise ValueError("need 0 <= unrelated < matched < 1")
    rng = np.random.default_rng(seed)
    concepts = rng.integers(0, num_concepts, size=n)
    shared, gap_image, gap_text = (_unit(rng.standard_normal(dim)) for _ in range(3))
    centres = _unit(rng.standard_normal((num_concepts, dim)))
    details = _unit(rng.standard_normal((n, dim)))
    describe = rng.beta(4.0, 2.0, size=n) * 1.5  # how much of the image a caption says, ~1 on average
    fit = np.clip((matched - unrelated) * describe, 0.0, 1.0 - unrelated - 0.05)
    concept_w, detail_w = concept_share * fit, (1 - concept_share) * fit
    rest = 1.0 - unrelated - fit
    gap_w, noise_w = 0.5 * rest, 0.5 * rest

    def tower(gap: np.ndarray) -> np.ndarray:
        noise = _unit(rng.standard_normal((n, dim)))
        x = (
            np.sqrt(unrelated) * shared
            + np.sqrt(concept_w)[:, None] * centres[concepts]
            + np.sqrt(detail_w)[:, None] * details
            + np.sqrt(gap_w)[:, None] * gap
            + np.sqrt(noise_w)[:, None] * noise
        )
        return _unit(x).astype(np.float32)

    images, texts = tower(gap_image), tower(gap_text)
    original = texts.copy()
    swapped = np.zeros(n, dtype=bool)
    for i in rng.choice(n, size=int(round(swap_rate * n)), replace=False):
        j = int(rng.integers(n))
        while concepts[j] == concepts[i]:  # another image's caption, of another concept
            j = int(rng.integers(n))
        texts[i], swapped[i] = original[j], True
    return SyntheticPairs(images, texts, swapped, concepts.astype(np.int64))
