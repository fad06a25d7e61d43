"""Bring-your-own probabilities: validate a model's ``pred_probs`` and flag label issues.

The flagging itself is confident learning (:mod:`curate.score.noise.confident`), exactly
cleanlab's filter: per-class thresholds (the mean self-confidence of each class), a confident
joint of given vs. likely-true labels, and pruning by the estimated noise rate — so a tail class
whose samples are all a little less confident is compared with itself, not with the head
classes, and is not flagged wholesale.
"""

from __future__ import annotations

import numpy as np

from curate.errors import DataError
from curate.score.noise.result import LabelNoiseResult


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
) -> LabelNoiseResult:
    """Flag label issues from out-of-sample predicted probabilities (bring your own model's).

    labels:     (N,) integer class indices in 0..K-1
    pred_probs: (N, K) float16/float32/float64, rows sum to 1, each row predicted by a model
                that did not train on that row
    ``filter_by`` is cleanlab's rule (``filter.find_label_issues``); the flags are the ones cleanlab
    gives on the same probabilities (:mod:`confident` computes them block by block), and
    ``label_quality`` is the self-confidence ``pred_probs[i, labels[i]]``. Fewer than two classes
    is not an error: nothing is scored and ``notes`` says so. Raises :class:`DataError` for
    malformed inputs.
    """
    from curate.score.noise.confident import DenseProbabilities, confident_learning

    labels, pred_probs = check_labels_and_pred_probs(labels, pred_probs)
    result = confident_learning(labels, DenseProbabilities(pred_probs), filter_by=filter_by)
    result.pred_probs = pred_probs
    return result
