"""Confident learning on predicted probabilities: which labels are wrong, and what they should be.

cleanlab's filter does the flagging: per-class thresholds (the mean self-confidence of each
class), a confident joint of given vs. likely-true labels, and pruning by the estimated noise
rate — so a tail class whose samples are all a little less confident is compared with itself,
not with the head classes, and is not flagged wholesale.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from curate.errors import DataError

#: How many (given, suggested) pairs :attr:`LabelNoiseResult.confused_pairs` lists at most.
MAX_CONFUSED_PAIRS = 50


@dataclass
class LabelNoiseResult:
    """Per-sample and per-class label-noise findings, row-aligned with the input.

    label_quality:        (N,) float32 in 0..1, 1 = clean; NaN where not scored (unlabelled rows,
                          or the whole run when it was skipped, see ``notes``)
    is_label_issue:       (N,) bool, the given label is probably wrong
    suggested_label:      (N,) int64 most likely class (also for unlabelled rows when probabilities
                          exist); -1 when there is nothing to suggest
    suggested_confidence: (N,) float32 probability of ``suggested_label``; NaN when none
    pred_probs:           (N, K) float32 out-of-sample probabilities the decision used (NaN rows
                          where not scored)
    noise_rate:           (K,) float64 estimated share of wrong labels among samples given class k
    confident_joint:      (K, K) int64 counts, row = given label, column = likely true label
    confused_pairs:       [(given, suggested, count)], the largest off-diagonal confident-joint
                          entries, worst first
    notes:                why something was skipped or adjusted (e.g. "skipped: unlabelled")
    """

    label_quality: np.ndarray
    is_label_issue: np.ndarray
    suggested_label: np.ndarray
    suggested_confidence: np.ndarray
    pred_probs: np.ndarray
    noise_rate: np.ndarray
    confident_joint: np.ndarray
    confused_pairs: list[tuple[int, int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.label_quality)

    @property
    def num_issues(self) -> int:
        return int(self.is_label_issue.sum())

    @property
    def issue_rate(self) -> float | None:
        """Share of scored (labelled) rows flagged; None when nothing was scored."""
        scored = int(np.isfinite(self.label_quality).sum())
        return self.num_issues / scored if scored else None

    @classmethod
    def unscored(cls, labels: np.ndarray, num_classes: int, note: str) -> LabelNoiseResult:
        """A result that scores nothing: every row gets the null-ish outputs, ``note`` says why."""
        n = len(labels)
        return cls(
            label_quality=np.full(n, np.nan, dtype=np.float32),
            is_label_issue=np.zeros(n, dtype=bool),
            suggested_label=np.where(labels >= 0, labels, -1).astype(np.int64),
            suggested_confidence=np.full(n, np.nan, dtype=np.float32),
            pred_probs=np.full((n, num_classes), np.nan, dtype=np.float32),
            noise_rate=np.zeros(num_classes, dtype=np.float64),
            confident_joint=np.zeros((num_classes, num_classes), dtype=np.int64),
            notes=[note],
        )


def check_labels_and_pred_probs(labels: np.ndarray, pred_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate bring-your-own inputs; return ``(labels int64, pred_probs float32)``.

    labels: (N,) any integer dtype, values in 0..K-1.  pred_probs: (N, K) float16/32/64, finite,
    non-negative, rows summing to 1 within rounding of their dtype (renormalised exactly here).
    Raises :class:`DataError` with one clear message per problem.
    """
    labels = np.asarray(labels)
    pred_probs = np.asarray(pred_probs)
    if labels.dtype.kind not in "iu":
        raise DataError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise DataError(f"labels must be a 1-D array, got shape {labels.shape}")
    if pred_probs.dtype.kind != "f":
        raise DataError(f"pred_probs must be floating point, got dtype {pred_probs.dtype}")
    if pred_probs.ndim != 2:
        raise DataError(f"pred_probs must be an N x K array, got shape {pred_probs.shape}")
    if pred_probs.shape[0] != labels.shape[0]:
        raise DataError(f"labels has {labels.shape[0]} rows but pred_probs has {pred_probs.shape[0]}")
    n, k = pred_probs.shape
    if n == 0:
        raise DataError("no rows: labels and pred_probs are empty")
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if bad.size:
        raise DataError(f"{bad.size} labels are out of range 0..{k - 1} (first: row {bad[0]} = {labels[bad[0]]})")
    finite = np.isfinite(pred_probs).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise DataError(f"pred_probs has NaN or infinite values in {int((~finite).sum())} rows (first: row {row})")
    if (pred_probs < 0).any():
        row = int(np.flatnonzero((pred_probs < 0).any(axis=1))[0])
        raise DataError(f"pred_probs has negative values (first: row {row})")
    sums = pred_probs.sum(axis=1, dtype=np.float64)
    # Each entry rounds by at most eps/2 of itself, so a row's sum is off by at most ~eps/2.
    tolerance = max(1e-3, 4 * float(np.finfo(pred_probs.dtype).eps))
    off = np.flatnonzero(np.abs(sums - 1.0) > tolerance)
    if off.size:
        raise DataError(
            f"pred_probs rows must sum to 1: {off.size} rows do not (first: row {off[0]} sums to "
            f"{sums[off[0]]:.6g}); pass probabilities (softmax outputs), not logits"
        )
    probs = (pred_probs.astype(np.float64) / sums[:, None]).astype(np.float32)
    return labels.astype(np.int64), probs


def find_issues_from_pred_probs(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    quality_method: str = "self_confidence",
    n_jobs: int | None = 1,
) -> LabelNoiseResult:
    """Flag label issues from out-of-sample predicted probabilities (bring your own model's).

    labels:     (N,) integer class indices in 0..K-1
    pred_probs: (N, K) float16/float32/float64, rows sum to 1, each row predicted by a model
                that did not train on that row
    ``filter_by`` and ``quality_method`` pass to cleanlab (``filter.find_label_issues`` and
    ``rank.get_label_quality_scores``). Fewer than two classes is not an error: nothing is
    scored and ``notes`` says so. Raises :class:`DataError` for malformed inputs.
    """
    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    return _confident_learning(labels, pred_probs, filter_by=filter_by, quality_method=quality_method, n_jobs=n_jobs)


def _confident_learning(
    labels: np.ndarray, pred_probs: np.ndarray, *, filter_by: str, quality_method: str, n_jobs: int | None
) -> LabelNoiseResult:
    """The filter on rows that are already validated; labels may hold -1 (unscored rows)."""
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    n, k = pred_probs.shape
    scored = np.flatnonzero(labels >= 0)
    present = np.unique(labels[scored])
    if scored.size == 0:
        return LabelNoiseResult.unscored(labels, k, "skipped: unlabelled (no labelled samples to score)")
    if k < 2 or present.size < 2:
        return LabelNoiseResult.unscored(labels, k, f"skipped: one class ({present.size} class present, nothing to confuse it with)")

    y, p = labels[scored], pred_probs[scored]
    notes: list[str] = []
    singletons = np.flatnonzero(np.bincount(y, minlength=k) == 1)
    if singletons.size:
        notes.append(f"{singletons.size} classes have a single sample; their labels cannot be "
                     "checked against their own class and are scored by the other classes only")
    with warnings.catch_warnings():
        # cleanlab warns about classes with no samples and tiny classes; the notes above say it once.
        warnings.simplefilter("ignore")
        joint = compute_confident_joint(y, p)
        issues = find_label_issues(y, p, filter_by=filter_by, confident_joint=joint, n_jobs=n_jobs)
        quality = get_label_quality_scores(y, p, method=quality_method)

    is_issue = np.zeros(n, dtype=bool)
    is_issue[scored] = issues
    label_quality = np.full(n, np.nan, dtype=np.float32)
    label_quality[scored] = quality
    suggested = pred_probs.argmax(axis=1).astype(np.int64)
    confidence = pred_probs[np.arange(n), suggested].astype(np.float32)
    unscorable = ~np.isfinite(pred_probs).all(axis=1)
    suggested[unscorable] = -1
    confidence[unscorable] = np.nan

    joint = np.asarray(joint, dtype=np.int64)
    row_total = joint.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise_rate = np.where(row_total > 0, 1.0 - np.diag(joint) / np.maximum(row_total, 1), 0.0)
    off = joint.copy()
    np.fill_diagonal(off, 0)
    top = np.argsort(off, axis=None)[::-1][:MAX_CONFUSED_PAIRS]
    pairs = [(int(i // k), int(i % k), int(off.flat[i])) for i in top if off.flat[i] > 0]
    return LabelNoiseResult(
        label_quality=label_quality,
        is_label_issue=is_issue,
        suggested_label=suggested,
        suggested_confidence=confidence,
        pred_probs=pred_probs,
        noise_rate=noise_rate.astype(np.float64),
        confident_joint=joint,
        confused_pairs=pairs,
        notes=notes,
    )
