"""The K x K steps of confident learning in numpy, so a scan does not import cleanlab.

Importing cleanlab runs its package ``__init__``, which loads Datalab, scikit-learn and
``datasets`` (about a second of a 4k scan's few seconds). Confident learning only needs three
small K x K computations from it; they are written here with the same arithmetic, in the same
order, with the same tie-breaking (numpy's default ``argsort``), so the numbers are identical —
``tests/score/noise/test_joint.py`` checks each one against cleanlab's own function, and
``tests/score/noise/test_confident.py`` checks the whole filter.
"""

from __future__ import annotations

import numpy as np

#: cleanlab's fuzzy-equality tolerance (``cleanlab.internal.constants.FLOATING_POINT_COMPARISON``).
FLOATING_POINT_COMPARISON = 1e-6

#: cleanlab's floor for the per-class confident thresholds (``CONFIDENT_THRESHOLDS_LOWER_BOUND``).
CONFIDENT_THRESHOLDS_LOWER_BOUND = 2 * FLOATING_POINT_COMPARISON

#: cleanlab's clip for divisions by a count that may be zero (``TINY_VALUE``).
TINY_VALUE = 1e-100


def round_preserving_sum(values: np.ndarray) -> np.ndarray:
    """Round floats to ints whose total is the rounded total of the floats: the entries that
    rounding moved furthest are nudged by one until the totals agree (cleanlab's rule)."""
    floats = np.asarray(values, dtype=float)
    ints = floats.round()
    target = np.sum(floats).round()
    total = np.sum(ints).round()
    while abs(total - target) > FLOATING_POINT_COMPARISON:
        diff = np.round(target - total)
        step = -1 if diff < 0.0 else 1
        changes = min(int(abs(diff)), len(floats))
        for i in np.argsort(floats - ints)[::-step][:changes]:
            ints[i] = ints[i] + step
        total = np.sum(ints).round()
    return ints.astype(int)


def round_preserving_row_totals(matrix: np.ndarray) -> np.ndarray:
    """:func:`round_preserving_sum` applied to each row of a 2-D float matrix."""
    matrix = np.asarray(matrix)
    return np.array([round_preserving_sum(row) for row in matrix], dtype=int).reshape(matrix.shape)


def calibrate_confident_joint(confident_joint: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Scale the (K, K) confident joint (rows = given label) so each row sums to that label's
    count and the whole to the number of labels, then round keeping the row totals."""
    k = len(confident_joint)
    label_counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k)
    rows = np.clip(confident_joint.sum(axis=1), a_min=TINY_VALUE, a_max=None)
    calibrated = (confident_joint.T / rows * label_counts).T
    calibrated = calibrated / np.clip(np.sum(calibrated), a_min=TINY_VALUE, a_max=None) * int(label_counts.sum())
    return round_preserving_row_totals(calibrated)


def keep_at_least_n_per_class(prune_count_matrix: np.ndarray, n: int) -> np.ndarray:
    """Prune counts (columns = given label) with every diagonal entry raised to at least ``n`` and
    the column's non-zero noise counts lowered evenly by what the diagonal gained (cleanlab's
    ``_keep_at_least_n_per_class`` with ``frac_noise=1``: the fractional counts are truncated)."""
    diagonal = np.diagonal(prune_count_matrix)
    new_diagonal = np.maximum(diagonal, n)
    gained = new_diagonal - diagonal
    noise_per_col = np.maximum(np.count_nonzero(prune_count_matrix, axis=0) - 1.0, 1.0)
    counts = prune_count_matrix - gained / noise_per_col
    counts[counts < 0] = 0
    np.fill_diagonal(counts, new_diagonal)
    # frac_noise = 1 leaves the matrix as it is; cleanlab's cast to int truncates, and rounding
    # integers keeping the row totals changes nothing.
    return round_preserving_row_totals(counts.astype(int)).astype(int)
