"""Embedding geometries built from real data that packages ship, with planted issues of known truth.

curate's quality figures all came from ``curate.synth``, whose space is CLIP-like (unrelated
cosine ~0.5, same class ~0.6). The builders here give the same kind of ground truth in spaces
other extractors make: raw pixels, PCA, HOG and a small metric-learning network on scikit-learn's
digits; standardised tabular rows (wine, breast cancer); two hand-made descriptors of the textile
photos in ``conformal_clip_data`` (HOG, and pixels + histogram + PCA); and ``curate.synth``
itself at three spreads. Nothing is downloaded.

Every geometry plants its issues the same way:

* **long tail**: classes are subsampled to an exponential profile, the class with the most rows
  first, head/tail ``imbalance_ratio`` (10 where the data has rows enough);
* **label noise**: ``NOISE_RATE`` of each class's rows get a wrong label, about half of them the
  look-alike class (whose true-label centroid is nearest in these features), the rest a
  uniformly drawn other class;
* **near-duplicates**: ``DUPLICATE_RATE`` of all rows are modified copies of another row, one
  copy per source. Images are cropped a little, shrunk, re-encoded as low-quality JPEG and passed
  through the same extractor; tabular rows get noise of ``TABULAR_COPY_NOISE`` of each feature's
  standard deviation. A copy carries its source's given label half the time, else its true one;
* **outliers**: ``OUTLIER_RATE`` of all rows belong to no class: images of another kind or
  heavily corrupted ones (through the same extractor), or tabular rows whose every feature is
  drawn on its own from that feature's values (which breaks the correlations). An outlier gets
  a random label, which never counts as a label issue.

Rows are shuffled at the end. Everything is deterministic given ``seed``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter, ImageOps

#: share of each class's (non-outlier, non-copy) rows whose label is flipped
NOISE_RATE = 0.12
#: near-duplicate copies as a share of all rows
DUPLICATE_RATE = 0.03
#: outliers as a share of all rows
OUTLIER_RATE = 0.025
#: a tabular copy's noise, in units of each feature's standard deviation
TABULAR_COPY_NOISE = 0.02
#: head/tail class-size ratio wherever the smallest class still keeps a few dozen rows
IMBALANCE_RATIO = 10.0


@dataclass
class Geometry:
    """One benchmark dataset: features some extractor produced, with planted ground truth.

    features:        (N, D) float32, exactly what every tool is given
    labels:          (N,) int64 given labels, possibly wrong
    true_labels:     (N,) int64 correct labels (an outlier's is the random label it was given)
    class_names:     K names
    is_noisy:        (N,) bool, the given label is wrong (never set on an outlier)
    duplicate_group: (N,) int64, -1, or an id shared by a source row and its copy
    is_outlier:      (N,) bool, a row of no class
    extractor:       how the features were made
    imbalance_ratio: the head/tail class-size ratio the classes were subsampled to
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    true_labels: np.ndarray
    class_names: list[str]
    is_noisy: np.ndarray
    duplicate_group: np.ndarray
    is_outlier: np.ndarray
    extractor: str
    imbalance_ratio: float

    @property
    def num_copies(self) -> int:
        """Redundant rows: group members beyond one per group (what a deduplicator should drop)."""
        groups = self.duplicate_group[self.duplicate_group >= 0]
        return len(groups) - len(np.unique(groups))

    @property
    def planted_rates(self) -> dict[str, float]:
        """Planted label-issue, duplicate (copies / N) and outlier rates, all over every row."""
        n = len(self.labels)
        return {
            "label_issue_rate": float(self.is_noisy.mean()),
            "duplicate_rate": self.num_copies / n,
            "outlier_rate": float(self.is_outlier.mean()),
        }


@dataclass
class _RowPlan:
    """Which rows a geometry is made of, before any label is planted.

    Features are laid out as [base rows | copies | outliers].
    base_rows:    (n_base,) int64 indices into the source data, long-tailed by class
    base_labels:  (n_base,) int64 true labels of the base rows
    copy_sources: (n_copies,) int64 positions among the base rows, each copied once
    num_outliers: rows of no class appended after the copies
    """

    base_rows: np.ndarray
    base_labels: np.ndarray
    copy_sources: np.ndarray
    num_outliers: int

    @property
    def num_rows(self) -> int:
        return len(self.base_rows) + len(self.copy_sources) + self.num_outliers


def _plan_rows(labels: np.ndarray, imbalance_ratio: float, rng: np.random.Generator) -> _RowPlan:
    """Long-tailed base rows out of ``labels`` ((M,) int64), copy sources and the outlier count.

    Classes are ranked by how many rows they have (ties at random), and the most rows that let
    every class fill its share of the exponential profile (``curate.synth.class_counts``) are taken.
    """
    from curate.synth import class_counts

    available = np.bincount(labels)
    num_classes = len(available)
    rank_order = np.lexsort((rng.permutation(num_classes), -available))  # the most rows first
    total = len(labels)
    while np.any((counts := class_counts(total, num_classes, imbalance_ratio)) > available[rank_order]):
        # Shrink to what the most overfull class allows; strictly decreasing, so it ends.
        total = int(total * np.min(available[rank_order] / counts))
    base_rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == klass), size=count, replace=False)
            for klass, count in zip(rank_order, counts)
        ]
    )
    n_base = len(base_rows)
    # Copies and outliers are shares of the final row count, which includes them.
    n_total = n_base / (1 - DUPLICATE_RATE - OUTLIER_RATE)
    copy_sources = rng.choice(n_base, size=int(round(n_total * DUPLICATE_RATE)), replace=False)
    return _RowPlan(base_rows, labels[base_rows].astype(np.int64), copy_sources, int(round(n_total * OUTLIER_RATE)))


def _look_alike(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) int64: for each class, the other class whose centroid is nearest (Euclidean).

    features: (n, D) float rows; labels: (n,) int64 their true labels.
    """
    centroids = np.stack([features[labels == k].mean(axis=0) for k in range(num_classes)])
    distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    return distances.argmin(axis=1).astype(np.int64)


def _plant(
    name: str,
    extractor: str,
    features: np.ndarray,
    plan: _RowPlan,
    class_names: list[str],
    imbalance_ratio: float,
    rng: np.random.Generator,
) -> Geometry:
    """Label noise, copy and outlier labels on ``features`` ((plan.num_rows, D), laid out as in
    :class:`_RowPlan`), then a shuffle of the rows."""
    num_classes = len(class_names)
    n_base, n_copies = len(plan.base_rows), len(plan.copy_sources)
    look_alike = _look_alike(features[:n_base].astype(np.float64), plan.base_labels, num_classes)

    given = plan.base_labels.copy()
    for klass in range(num_classes):
        members = np.flatnonzero(plan.base_labels == klass)
        flipped = rng.choice(members, size=int(round(NOISE_RATE * len(members))), replace=False)
        for row in flipped:
            if rng.random() < 0.5:
                given[row] = look_alike[klass]
            else:
                other = rng.integers(0, num_classes - 1)
                given[row] = other if other < klass else other + 1

    copy_true = plan.base_labels[plan.copy_sources]
    copy_given = np.where(rng.random(n_copies) < 0.5, given[plan.copy_sources], copy_true)
    outlier_labels = rng.integers(0, num_classes, size=plan.num_outliers)

    true_labels = np.concatenate([plan.base_labels, copy_true, outlier_labels])
    labels = np.concatenate([given, copy_given, outlier_labels])
    is_outlier = np.arange(plan.num_rows) >= n_base + n_copies
    duplicate_group = np.full(plan.num_rows, -1, dtype=np.int64)
    duplicate_group[plan.copy_sources] = np.arange(n_copies)
    duplicate_group[n_base : n_base + n_copies] = np.arange(n_copies)

    order = rng.permutation(plan.num_rows)
    return Geometry(
        name=name,
        features=np.ascontiguousarray(features[order], dtype=np.float32),
        labels=labels[order].astype(np.int64),
        true_labels=true_labels[order].astype(np.int64),
        class_names=list(class_names),
        is_noisy=(labels != true_labels)[order],
        duplicate_group=duplicate_group[order],
        is_outlier=is_outlier[order],
        extractor=extractor,
        imbalance_ratio=imbalance_ratio,
    )


# --- images ---------------------------------------------------------------------------------------

#: at most this share of each side is cropped off a copy. Slight on purpose: an 8x8 digit has no
#: margin to spare (at 5 % a copy is as far from its source as another digit), and HOG cells
#: shift with the crop (at 5 % a textile copy is barely nearer its source than other photos)
MAX_CROP = 0.02
#: a digit copy is made from the 8x8 image shown at 64x64, each pixel an 8x8 block, so that
#: showing and re-digitising it is lossless and only the copy's own changes remain
DIGIT_COPY_SIZE = 64


def _jpeg(picture: Image.Image, quality: int) -> Image.Image:
    """``picture`` encoded as JPEG at ``quality`` and decoded again, grayscale."""
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def _near_copy(picture: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A re-saved version of ``picture``: up to MAX_CROP of each side cropped off, shrunk to
    60-90 %, and re-encoded as JPEG at quality 30-60 — what a re-upload or a thumbnail does to a
    photo. Returned as a grayscale picture of the shrunk size."""
    width, height = picture.size
    left, top, right, bottom = rng.uniform(0, MAX_CROP, size=4)
    cropped = picture.crop(
        (round(left * width), round(top * height), width - round(right * width), height - round(bottom * height))
    )
    scale = rng.uniform(0.6, 0.9)
    shrunk = cropped.resize(
        (max(8, round(cropped.width * scale)), max(8, round(cropped.height * scale))), Image.BILINEAR
    )
    return _jpeg(shrunk, quality=int(rng.integers(30, 61)))


def _digit_picture(pixels: np.ndarray, size: int, resample: Image.Resampling) -> Image.Image:
    """An (8, 8) digit in 0..16 as a ``size`` x ``size`` grayscale picture."""
    image = Image.fromarray(np.round(pixels * (255 / 16)).astype(np.uint8), mode="L")
    return image.resize((size, size), resample)


def _picture_to_digit(image: Image.Image, stretch: bool = False) -> np.ndarray:
    """Any picture as an (8, 8) float64 digit in 0..16, quantised to integers as the dataset is.

    ``stretch`` spreads the 8x8 result over the full 0..16 range, as a digit's strokes are: a
    photo averaged down to 8x8 is otherwise a flat gray, and all such photos the same gray.
    """
    small = image.convert("L").resize((8, 8), Image.BOX)
    if stretch:
        small = ImageOps.autocontrast(small)
    return np.round(np.asarray(small, dtype=np.float64) * (16 / 255))


@dataclass
class _DigitRows:
    """The digit images of the digits geometries, shared by their four extractors.

    images:       (plan.num_rows, 8, 8) float64 in 0..16, laid out as in :class:`_RowPlan`
    plan:         the rows' plan
    train_pixels: (M, 64) float32 in 0..1, held-out digits (none of them a base row) for the
                  metric-learning network
    train_labels: (M,) int64
    """

    images: np.ndarray
    plan: _RowPlan
    train_pixels: np.ndarray
    train_labels: np.ndarray


@lru_cache(maxsize=3)
def _digit_rows(seed: int, classes: tuple[int, ...] = tuple(range(10))) -> _DigitRows:
    """Long-tailed digits, their near-copies and outliers (half textile photos turned into 8x8
    digits, half digits with their pixels shuffled), and the held-out rest for training.
    ``classes``: the digits kept (labels renumbered 0.. in that order)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, classes)
    images_of, target = digits.images[keep], np.searchsorted(classes, digits.target[keep]).astype(np.int64)
    data = digits.data[keep]
    rng = np.random.default_rng([seed, 1])
    plan = _plan_rows(target, IMBALANCE_RATIO, rng)
    held_out = np.setdiff1d(np.arange(len(target)), plan.base_rows)
    base = images_of[plan.base_rows]
    copies = np.stack(
        [
            _picture_to_digit(_near_copy(_digit_picture(base[s], DIGIT_COPY_SIZE, Image.NEAREST), rng))
            for s in plan.copy_sources
        ]
    )
    textiles, _ = _textile_pictures()
    n_textile = plan.num_outliers // 2
    from_textile = [
        _picture_to_digit(textiles[i], stretch=True) for i in rng.choice(len(textiles), size=n_textile, replace=False)
    ]
    shuffled = [
        rng.permutation(images_of[i].ravel()).reshape(8, 8)
        for i in rng.choice(held_out, size=plan.num_outliers - n_textile, replace=False)
    ]
    images = np.concatenate([base, copies, np.stack(from_textile + shuffled)])
    return _DigitRows(images, plan, (data[held_out] / 16).astype(np.float32), target[held_out])


DIGIT_NAMES = [str(d) for d in range(10)]


def digits_pixels(seed: int = 0) -> Geometry:
    """Digits as their 64 raw pixel values (0..16)."""
    rows = _digit_rows(seed)
    return _plant(
        "digits-pixels",
        "sklearn digits, 64 raw pixels (0..16)",
        rows.images.reshape(len(rows.images), 64),
        rows.plan,
        DIGIT_NAMES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 2]),
    )


def digits_pca(seed: int = 0) -> Geometry:
    """Digits as their first 24 principal components (fitted on the benchmark rows)."""
    from sklearn.decomposition import PCA

    rows = _digit_rows(seed)
    components = PCA(n_components=24, random_state=seed).fit_transform(rows.images.reshape(len(rows.images), 64))
    return _plant(
        "digits-pca",
        "sklearn digits, PCA to 24 components of the raw pixels",
        components,
        rows.plan,
        DIGIT_NAMES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 2]),
    )


def _hog(picture: Image.Image, cell: int) -> np.ndarray:
    """HOG of a grayscale picture: 9 orientations, ``cell``-pixel cells, 2x2-cell blocks; (F,) float64."""
    from skimage.feature import hog

    return hog(
        np.asarray(picture, dtype=np.float64) / 255,
        orientations=9,
        pixels_per_cell=(cell, cell),
        cells_per_block=(2, 2),
    )


def digits_hog(seed: int = 0) -> Geometry:
    """Digits as HOG descriptors of the 32x32 upsampled picture (324 values)."""
    rows = _digit_rows(seed)
    features = np.stack([_hog(_digit_picture(image, 32, Image.BILINEAR), cell=8) for image in rows.images])
    return _plant(
        "digits-hog",
        "sklearn digits upsampled to 32x32, HOG (9 orientations, 8x8 cells, 2x2 blocks)",
        features,
        rows.plan,
        DIGIT_NAMES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 2]),
    )


def _supervised_contrastive_loss(embeddings, labels, temperature: float = 0.1):
    """Supervised contrastive loss (Khosla et al. 2020) of a batch: embeddings (B, E) float32
    tensor, labels (B,) int64 tensor; pulls same-label rows together on the unit sphere."""
    import torch

    unit = torch.nn.functional.normalize(embeddings, dim=1)
    self_pair = torch.eye(len(unit), dtype=torch.bool)
    logits = (unit @ unit.T / temperature).masked_fill(self_pair, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (labels[:, None] == labels[None]) & ~self_pair
    return -((log_prob * positive).sum(1) / positive.sum(1).clamp(min=1)).mean()


def _train_metric_net(pixels: np.ndarray, labels: np.ndarray, seed: int):
    """An MLP 64 -> 128 -> 128 -> 32 trained with the supervised contrastive loss on ``pixels``
    ((M, 64) float32 in 0..1) and ``labels`` ((M,) int64); a few seconds on one CPU thread."""
    import torch

    # One thread: these matrices are too small to share, and extra threads spin against any
    # other load on the cores (2 s alone, 9-75 s with two threads on a busy 2-core machine).
    # It also makes the trained weights independent of the machine's core count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(64, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, 32),
        )
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
        inputs, targets = torch.from_numpy(pixels), torch.from_numpy(labels)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(150):
            for batch in torch.randperm(len(inputs), generator=generator).split(256):
                # A little input noise, the only augmentation 8x8 digits take without changing class.
                noisy = inputs[batch] + 0.05 * torch.randn(inputs[batch].shape, generator=generator)
                loss = _supervised_contrastive_loss(net(noisy), targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def digits_metric(seed: int = 0) -> Geometry:
    """Digits embedded by a small network trained with a metric-learning loss on held-out digits:
    a concentrated space (nearest-neighbour cosine ~0.99), like a face or re-identification model."""
    import torch

    rows = _digit_rows(seed)
    net = _train_metric_net(rows.train_pixels, rows.train_labels, seed)
    with torch.no_grad():
        embedded = net(torch.from_numpy((rows.images.reshape(len(rows.images), 64) / 16).astype(np.float32)))
        features = torch.nn.functional.normalize(embedded, dim=1).numpy()
    return _plant(
        "digits-metric",
        "sklearn digits, MLP 64-128-128-32 trained with a supervised contrastive "
        f"loss on {len(rows.train_labels)} held-out digits, L2-normalised",
        features,
        rows.plan,
        DIGIT_NAMES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 2]),
    )


# --- weak spaces: where the features barely tell the classes apart ----------------------------------


def _pooled(images: np.ndarray, size: int) -> np.ndarray:
    """(n, size * size) float64: each (8, 8) digit box-averaged down to ``size`` x ``size``."""
    return (
        np.stack(
            [
                np.asarray(Image.fromarray(np.round(i * (255 / 16)).astype(np.uint8)).resize((size, size), Image.BOX))
                for i in images
            ]
        ).reshape(len(images), -1)
        / 255.0
    )


def digits_coarse(seed: int = 0) -> Geometry:
    """A weak extractor: every digit averaged down to 2x2 pixels (4 values). A 10-NN vote on these
    is right about 42 % of the time (vs 98 % on the 64 pixels), the regime of fine-grained
    classes under a general-purpose embedding."""
    rows = _digit_rows(seed)
    return _plant(
        "digits-coarse",
        "sklearn digits averaged to 2x2 pixels (a weak extractor)",
        _pooled(rows.images, 2),
        rows.plan,
        DIGIT_NAMES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 2]),
    )


#: digits that look alike at low resolution
LOOKALIKE_DIGITS = (3, 5, 8, 9)


def digits_lookalike(seed: int = 0) -> Geometry:
    """Fine-grained look-alikes: only the digits 3, 5, 8 and 9, each averaged down to 3x3 pixels.
    A 10-NN vote is right about 58 % of the time."""
    rows = _digit_rows(seed, LOOKALIKE_DIGITS)
    return _plant(
        "digits-lookalike",
        "sklearn digits 3, 5, 8, 9 averaged to 3x3 pixels (look-alike classes, weak extractor)",
        _pooled(rows.images, 3),
        rows.plan,
        [str(d) for d in LOOKALIKE_DIGITS],
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 2]),
    )


TEXTILE_CLASSES = ["nominal", "local_defect", "global_defect"]


@lru_cache(maxsize=1)
def _textile_pictures() -> tuple[list[Image.Image], np.ndarray]:
    """The ~2000 textile photos of ``conformal_clip_data`` as grayscale 250x250 pictures (they
    are gray already), in file-name order per class, with (n,) int64 labels (TEXTILE_CLASSES)."""
    import conformal_clip_data

    pictures, labels = [], []
    for klass, folder in enumerate(
        (conformal_clip_data.nominal_dir(), conformal_clip_data.local_dir(), conformal_clip_data.global_dir())
    ):
        for path in sorted(folder.glob("*.jpg")):
            with Image.open(path) as image:
                pictures.append(image.convert("L"))
            labels.append(klass)
    return pictures, np.array(labels, dtype=np.int64)


@dataclass
class _TextileRows:
    """The textile pictures of the textile geometries, laid out as in :class:`_RowPlan`."""

    pictures: list[Image.Image]
    plan: _RowPlan


@lru_cache(maxsize=2)
def _textile_rows(seed: int) -> _TextileRows:
    """Long-tailed textile photos (nominal is the head), near-copies, and outliers: half digits
    upsampled to photo size, half unused textile photos blurred and crushed by JPEG quality 5."""
    from sklearn.datasets import load_digits

    pictures, labels = _textile_pictures()
    rng = np.random.default_rng([seed, 3])
    plan = _plan_rows(labels, IMBALANCE_RATIO, rng)
    base = [pictures[i] for i in plan.base_rows]
    copies = [_near_copy(base[s], rng) for s in plan.copy_sources]
    digit_images = load_digits().images
    n_digits = plan.num_outliers // 2
    from_digits = [
        _digit_picture(digit_images[i], pictures[0].width, Image.BILINEAR)
        for i in rng.choice(len(digit_images), size=n_digits, replace=False)
    ]
    unused = np.setdiff1d(np.arange(len(pictures)), plan.base_rows)
    corrupted = [
        _jpeg(pictures[i].filter(ImageFilter.GaussianBlur(4)), quality=5)
        for i in rng.choice(unused, size=plan.num_outliers - n_digits, replace=False)
    ]
    return _TextileRows(base + copies + from_digits + corrupted, plan)


def textile_hog(seed: int = 0) -> Geometry:
    """Textile photos as HOG descriptors of a 64x64 grayscale thumbnail (1764 values)."""
    rows = _textile_rows(seed)
    features = np.stack([_hog(p.resize((64, 64), Image.BILINEAR), cell=8) for p in rows.pictures])
    return _plant(
        "textile-hog",
        "conformal_clip_data textile photos, 64x64 grayscale, HOG (9 orientations, 8x8 cells, 2x2 blocks)",
        features,
        rows.plan,
        TEXTILE_CLASSES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 4]),
    )


def _pixels_and_histogram(picture: Image.Image) -> np.ndarray:
    """(272,) float64: the picture box-downsampled to 16x16 (0..1) and its 16-bin intensity histogram."""
    pixels = np.asarray(picture, dtype=np.float64) / 255
    small = np.asarray(picture.resize((16, 16), Image.BOX), dtype=np.float64) / 255
    histogram = np.histogram(pixels, bins=16, range=(0, 1))[0] / pixels.size
    return np.concatenate([small.ravel(), histogram])


def textile_pixels(seed: int = 0) -> Geometry:
    """Textile photos as 16x16 pixels plus an intensity histogram, standardised, PCA to 32
    components: a space that keeps each photo's identity but hardly sees the defect classes."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rows = _textile_rows(seed)
    raw = StandardScaler().fit_transform(np.stack([_pixels_and_histogram(p) for p in rows.pictures]))
    features = PCA(n_components=32, random_state=seed).fit_transform(raw)
    return _plant(
        "textile-pixels",
        "conformal_clip_data textile photos, 16x16 grayscale pixels + 16-bin intensity "
        "histogram, standardised, PCA to 32 components",
        features,
        rows.plan,
        TEXTILE_CLASSES,
        IMBALANCE_RATIO,
        np.random.default_rng([seed, 4]),
    )


# --- tabular --------------------------------------------------------------------------------------


def _tabular(
    name: str,
    extractor: str,
    data: np.ndarray,
    target: np.ndarray,
    class_names: list[str],
    imbalance_ratio: float,
    seed: int,
) -> Geometry:
    """A table ((M, D) float, (M,) labels) with copies (row + small noise) and outliers (each
    feature from its own random row), standardised after planting as a user would."""
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng([seed, 5])
    plan = _plan_rows(target.astype(np.int64), imbalance_ratio, rng)
    base = data[plan.base_rows].astype(np.float64)
    copies = base[plan.copy_sources] + TABULAR_COPY_NOISE * base.std(axis=0) * rng.standard_normal(
        (len(plan.copy_sources), base.shape[1])
    )
    donor_rows = rng.integers(0, len(base), size=(plan.num_outliers, base.shape[1]))
    outliers = base[donor_rows, np.arange(base.shape[1])]
    features = StandardScaler().fit_transform(np.concatenate([base, copies, outliers]))
    return _plant(name, extractor, features, plan, class_names, imbalance_ratio, rng)


def wine(seed: int = 0) -> Geometry:
    """scikit-learn's wine table (13 chemical measurements, 3 cultivars), standardised. Only
    48-71 rows per class, so the tail is 3x, not 10x, below the head."""
    from sklearn.datasets import load_wine

    table = load_wine()
    return _tabular(
        "wine",
        "sklearn wine, 13 standardised measurements",
        table.data,
        table.target,
        [str(n) for n in table.target_names],
        imbalance_ratio=3.0,
        seed=seed,
    )


def breast_cancer(seed: int = 0) -> Geometry:
    """scikit-learn's breast-cancer table (30 cell-nucleus measurements, 2 classes), standardised."""
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer()
    return _tabular(
        "breast-cancer",
        "sklearn breast cancer, 30 standardised measurements",
        table.data,
        table.target,
        [str(n) for n in table.target_names],
        IMBALANCE_RATIO,
        seed,
    )


# --- curate.synth ---------------------------------------------------------------------------------


def _synth(name: str, spread: float, seed: int) -> Geometry:
    """``curate.synth`` at ``spread``, planted at this module's rates. Its own generator plants the
    issues: label flips go half to the class's confusable partner where it has one (40 % of
    classes), copies are jittered in embedding space, outliers are drawn without a class."""
    from curate.synth import make_dataset

    data = make_dataset(
        3000,
        20,
        dim=256,
        imbalance_ratio=IMBALANCE_RATIO,
        noise_rate=NOISE_RATE,
        noise_to_confusable=0.5,
        near_duplicate_fraction=DUPLICATE_RATE,
        exact_duplicate_fraction=0.0,
        outlier_fraction=OUTLIER_RATE,
        spread=spread,
        seed=seed,
    )
    return Geometry(
        name=name,
        features=data.embeddings,
        labels=data.labels,
        true_labels=data.true_labels,
        class_names=data.class_names,
        is_noisy=data.is_noisy,
        duplicate_group=data.duplicate_group,
        is_outlier=data.is_outlier,
        extractor=f"curate.synth, D=256, spread={spread}",
        imbalance_ratio=IMBALANCE_RATIO,
    )


def synth_tight(seed: int = 0) -> Geometry:
    """curate.synth at spread 0.1: nearest-neighbour cosine ~0.99, like a metric-learning model."""
    return _synth("synth-tight", 0.1, seed)


def synth_default(seed: int = 0) -> Geometry:
    """curate.synth as it always was: CLIP-like, unrelated cosine ~0.5, same class ~0.6."""
    return _synth("synth-default", 1.0, seed)


def synth_diffuse(seed: int = 0) -> Geometry:
    """curate.synth at spread 2: classes barely stand out of the per-row noise."""
    return _synth("synth-diffuse", 2.0, seed)


#: every geometry by name, in the order the benchmark runs them
GEOMETRIES: dict[str, Callable[[int], Geometry]] = {
    "digits-pixels": digits_pixels,
    "digits-pca": digits_pca,
    "digits-hog": digits_hog,
    "digits-metric": digits_metric,
    "wine": wine,
    "breast-cancer": breast_cancer,
    "digits-coarse": digits_coarse,
    "digits-lookalike": digits_lookalike,
    "textile-hog": textile_hog,
    "textile-pixels": textile_pixels,
    "synth-tight": synth_tight,
    "synth-default": synth_default,
    "synth-diffuse": synth_diffuse,
}
