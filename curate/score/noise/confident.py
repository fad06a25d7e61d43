"""Confident learning block by block: cleanlab's filter without an N x K matrix in memory.

cleanlab's ``filter.find_label_issues`` takes the whole ``pred_probs`` (N, K) and copies it
(per-class slices, the reduce-issues copy): at 1M samples x 1000 classes each copy is 4 GB. The
algorithm itself needs a few numbers per row at a time, so here it runs as three passes over
probability blocks (:class:`ProbabilityBlocks`, recomputed on demand by the scorer):

1. every row: the self-confidence ``p[i, y_i]`` (the label quality), the suggestion (argmax),
   and whether the given label is the prediction (cleanlab's ``_reduce_issues``, which un-flags
   those); the per-class thresholds are the per-class means of the self-confidence;
2. labelled rows: the confident joint (each row's confident class vs its given label), which
   cleanlab calibrates and turns into per-(given, true) prune counts;
3. class by class, only the classes with something to prune: the rows with the largest margin
   ``p[true] - p[given]`` (``prune_by_noise_rate``) or the lowest self-confidence
   (``prune_by_class``).

Same steps, same order, same tie-breaking as cleanlab 2.x — given the same probabilities the
flags are identical (``tests/score/noise/test_confident.py`` checks it against cleanlab) — and
the K x K steps are cleanlab's arithmetic in :mod:`curate.score.noise.joint` (so a scan never
imports cleanlab). Memory: O(N) per-row values, O(K^2) for the joint, and one
block (at most ``BLOCK_CELLS`` cells, or one whole class in pass 3).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from curate.errors import UsageError
from curate.score.noise.joint import (
    CONFIDENT_THRESHOLDS_LOWER_BOUND,
    FLOATING_POINT_COMPARISON,
    calibrate_confident_joint,
    keep_at_least_n_per_class,
)
from curate.score.noise.result import LabelNoiseResult, joint_findings

#: The ``filter_by`` rules of cleanlab's ``find_label_issues`` that are computed here.
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given")

#: Cells (rows x classes) per block: 4M cells keep each float64 temporary at 32 MB whatever the
#: number of classes.
BLOCK_CELLS = 1 << 22

#: cleanlab's ``min_examples_per_class`` default: a class this small is never pruned.
MIN_EXAMPLES_PER_CLASS = 1


class ProbabilityBlocks:
    """(N, K) predicted probabilities that are read block by block, never whole.

    Subclasses set ``num_rows`` and ``num_classes`` and implement :meth:`block`.
    """

    num_rows: int
    num_classes: int

    @property
    def block_rows(self) -> int:
        """Rows per block: ``BLOCK_CELLS`` cells, at least 256 rows."""
        return max(256, BLOCK_CELLS // max(self.num_classes, 1))

    def block(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) float32 probabilities of ``rows`` (a new array the caller may modify)."""
        raise NotImplementedError

    def blocks(self, rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(rows_of_block, probabilities)`` over ``rows`` (default: all rows), in order."""
        rows = np.arange(self.num_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        for start in range(0, len(rows), self.block_rows):
            block = rows[start : start + self.block_rows]
            yield block, self.block(block)


class DenseProbabilities(ProbabilityBlocks):
    """An (N, K) probability matrix that is already in memory."""

    def __init__(self, pred_probs: np.ndarray):
        self.pred_probs = pred_probs
        self.num_rows, self.num_classes = pred_probs.shape

    def block(self, rows: np.ndarray) -> np.ndarray:
        return self.pred_probs[rows]


def confident_learning(
    labels: np.ndarray,
    probs: ProbabilityBlocks,
    *,
    filter_by: str = "prune_by_noise_rate",
    keep_pred_probs: bool = False,
) -> LabelNoiseResult:
    """Flag label issues from out-of-sample probabilities, walking them in blocks.

    labels: (N,) int64 given labels, -1 for rows that are not scored (they still get a
            suggestion);  probs: their (N, K) probabilities.
    filter_by: one of :data:`FILTERS` (cleanlab's meaning). ``keep_pred_probs`` also returns the
    dense matrix (only for sizes that fit comfortably in memory).
    """
    if filter_by not in FILTERS:
        raise UsageError(f"unknown filter_by {filter_by!r}: choose from {', '.join(FILTERS)}")
    n, k = len(labels), probs.num_classes
    scored = np.flatnonzero(labels >= 0)
    present = np.unique(labels[scored])
    if scored.size == 0:
        return LabelNoiseResult.unscored(labels, k, "skipped: unlabelled (no labelled samples to score)")
    if k < 2 or present.size < 2:
        return LabelNoiseResult.unscored(
            labels, k, f"skipped: one class ({present.size} class present, nothing to confuse it with)"
        )
    given = labels[scored]
    counts = np.bincount(given, minlength=k)
    notes = []
    singletons = int((counts == 1).sum())
    if singletons:
        notes.append(
            f"{singletons} classes have a single sample; their labels cannot be "
            "checked against their own class and are scored by the other classes only"
        )

    first = _rows_pass(labels, probs, keep_pred_probs)
    by_class = np.argsort(given, kind="stable")  # each class's rows, in row order (as cleanlab slices)
    class_rows = np.split(scored[by_class], np.cumsum(counts)[:-1])
    thresholds = _thresholds(first.self_confidence, class_rows)
    joint, off_diagonal = _confident_joint(labels, probs, scored, thresholds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab's tiny-class warnings: the note above says it once
        joint = calibrate_confident_joint(joint, given)

    is_issue = np.zeros(n, dtype=bool)
    if filter_by == "confident_learning":
        is_issue[off_diagonal] = True
    elif filter_by == "predicted_neq_given":
        is_issue[scored] = first.suggested[scored] != given
    else:
        is_issue = _prune(labels, probs, class_rows, joint, filter_by)
    is_issue[first.agrees] = False

    noise_rate, pairs = joint_findings(joint)
    return LabelNoiseResult(
        label_quality=first.self_confidence,
        is_label_issue=is_issue,
        suggested_label=first.suggested,
        suggested_confidence=first.confidence,
        pred_probs=first.pred_probs,
        noise_rate=noise_rate,
        confident_joint=np.asarray(joint, dtype=np.int64),
        confused_pairs=pairs,
        notes=notes,
    )


class _RowFindings:
    """Pass 1's per-row values."""

    def __init__(self, n: int, k: int, keep_pred_probs: bool):
        self.self_confidence = np.full(n, np.nan, dtype=np.float32)
        self.suggested = np.full(n, -1, dtype=np.int64)
        self.confidence = np.full(n, np.nan, dtype=np.float32)
        self.agrees = np.zeros(n, dtype=bool)
        self.pred_probs = np.empty((n, k), dtype=np.float32) if keep_pred_probs else None


def _rows_pass(labels: np.ndarray, probs: ProbabilityBlocks, keep_pred_probs: bool) -> _RowFindings:
    found = _RowFindings(len(labels), probs.num_classes, keep_pred_probs)
    for rows, p in probs.blocks():
        if found.pred_probs is not None:
            found.pred_probs[rows] = p
        best = p.argmax(axis=1)
        finite = np.isfinite(p).all(axis=1)
        found.suggested[rows] = np.where(finite, best, -1)
        found.confidence[rows] = np.where(finite, p[np.arange(len(rows)), best], np.nan)
        y = labels[rows]
        mine = y >= 0
        if mine.any():
            p, y, at = p[mine], y[mine], np.arange(int(mine.sum()))
            found.self_confidence[rows[mine]] = p[at, y]
            # cleanlab's _reduce_issues: a row whose given label is (within 1e-6 of) the
            # prediction is never an issue.
            p[at, y] += FLOATING_POINT_COMPARISON
            found.agrees[rows[mine]] = p.argmax(axis=1) == y
    return found


def _thresholds(self_confidence: np.ndarray, class_rows: list[np.ndarray]) -> np.ndarray:
    """cleanlab's per-class confident thresholds: the mean self-confidence of each class (the same
    float32 values in the same order, so the same means), 2 for absent classes, clipped below."""
    big_value = 2  # cleanlab's BIG_VALUE: no probability reaches it
    means = [np.mean(self_confidence[rows]) if len(rows) else big_value for rows in class_rows]
    return np.clip(means, a_min=CONFIDENT_THRESHOLDS_LOWER_BOUND, a_max=None)


def _confident_joint(
    labels: np.ndarray, probs: ProbabilityBlocks, scored: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Uncalibrated (K, K) confident joint (rows = given label) with every diagonal entry at least
    1, and the rows counted off its diagonal (the ``confident_learning`` filter's issues)."""
    k = probs.num_classes
    joint = np.zeros(k * k, dtype=np.int64)
    off_diagonal = []
    cut = thresholds - 1e-6
    for rows, p in probs.blocks(scored):
        y = labels[rows]
        confident = p >= cut
        num_confident = confident.sum(axis=1)
        guess = np.where(num_confident > 1, p.argmax(axis=1), confident.argmax(axis=1))
        sure = num_confident > 0
        joint += np.bincount(y[sure] * k + guess[sure], minlength=k * k)
        off_diagonal.append(rows[sure & (guess != y)])
    joint = joint.reshape(k, k)
    np.fill_diagonal(joint, joint.diagonal().clip(min=1))
    return joint, np.concatenate(off_diagonal)


def _prune(
    labels: np.ndarray, probs: ProbabilityBlocks, class_rows: list[np.ndarray], joint: np.ndarray, filter_by: str
) -> np.ndarray:
    """cleanlab's prune_by_noise_rate / prune_by_class / both, class by class; (N,) bool."""
    prune = keep_at_least_n_per_class(joint.T, n=MIN_EXAMPLES_PER_CLASS)
    by_noise = filter_by in ("prune_by_noise_rate", "both")
    by_class = filter_by in ("prune_by_class", "both")
    work = []
    for c, rows in enumerate(class_rows):
        if len(rows) <= MIN_EXAMPLES_PER_CLASS:
            continue
        pairs = [(int(j), int(prune[j, c])) for j in np.flatnonzero(prune[:, c]) if j != c]
        lowest = len(rows) - int(prune[c, c])
        if (pairs or not by_noise) and (lowest >= 1 or not by_class):
            work.append((c, rows, pairs, lowest))

    is_issue = np.zeros(len(labels), dtype=bool)
    for group in _batches(work, probs.block_rows):
        p = probs.block(np.concatenate([rows for _, rows, _, _ in group]))
        start = 0
        for c, rows, pairs, lowest in group:
            pc = p[start : start + len(rows)]
            start += len(rows)
            noise_mask = np.zeros(len(rows), dtype=bool)
            for j, count in pairs:
                order = np.argsort(-(pc[:, j] - pc[:, c]))
                noise_mask[order[:count]] = True
            class_mask = np.zeros(len(rows), dtype=bool)
            if lowest >= 1:
                class_mask[np.argsort(pc[:, c])[:lowest]] = True
            if filter_by == "both":
                is_issue[rows] = noise_mask & class_mask
            else:
                is_issue[rows] = noise_mask if by_noise else class_mask
    return is_issue


def _batches(work: list, block_rows: int) -> Iterator[list]:
    """Consecutive classes gathered until a batch holds ``block_rows`` rows (a bigger class is a
    batch of its own)."""
    batch, size = [], 0
    for item in work:
        if batch and size + len(item[1]) > block_rows:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += len(item[1])
    if batch:
        yield batch
