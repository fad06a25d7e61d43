"""What label-noise scoring finds, per sample and per class (one result type for every path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from curate.score.noise.evidence import LabelEvidence

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
                          where not scored); None when they were never held in memory (large
                          N x K: the scorer walks them block by block, see :mod:`confident`)
    noise_rate:           (K,) float64 estimated share of wrong labels among samples given class k
    confident_joint:      (K, K) int64 counts, row = given label, column = likely true label
    confused_pairs:       [(given, suggested, count)], the largest off-diagonal confident-joint
                          entries, worst first
    notes:                why something was skipped or adjusted (e.g. "skipped: unlabelled")
    evidence:             how strongly the evidence supports the judgement, per class and pair,
                          and the per-row probabilities the plan acts on
                          (:class:`curate.score.noise.evidence.LabelEvidence`); None when not measured
    """

    label_quality: np.ndarray
    is_label_issue: np.ndarray
    suggested_label: np.ndarray
    suggested_confidence: np.ndarray
    pred_probs: np.ndarray | None
    noise_rate: np.ndarray
    confident_joint: np.ndarray
    confused_pairs: list[tuple[int, int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: LabelEvidence | None = None

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
            pred_probs=None,
            noise_rate=np.zeros(num_classes, dtype=np.float64),
            confident_joint=np.zeros((num_classes, num_classes), dtype=np.int64),
            notes=[note],
        )


def joint_findings(joint: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Per-class noise rates (K,) float64 and the worst confused pairs of a (K, K) confident joint
    (rows = given label, columns = likely true label)."""
    joint = np.asarray(joint, dtype=np.int64)
    k = len(joint)
    row_total = joint.sum(axis=1)
    noise_rate = np.where(row_total > 0, 1.0 - np.diag(joint) / np.maximum(row_total, 1), 0.0)
    off = joint.copy()
    np.fill_diagonal(off, 0)
    top = np.argsort(off, axis=None)[::-1][:MAX_CONFUSED_PAIRS]
    pairs = [(int(i // k), int(i % k), int(off.flat[i])) for i in top if off.flat[i] > 0]
    return noise_rate.astype(np.float64), pairs
