"""How strongly the out-of-fold evidence supports judging the labels, and what each judgement may do.

Where the embedding barely separates the classes (fine-grained look-alikes, a weak or random
model) confident learning still flags a share of the rows and still suggests a class for each,
with the same confident-looking numbers. The probabilities it walks are out of sample, so they
also say how well the space tells the classes apart; this module measures that and turns it
into the probabilities the plan acts on:

* **strength**, overall: Cohen's kappa between the out-of-sample prediction (argmax) and the
  given label over every labelled row, 0 at chance, 1 when it reproduces every label;
* per class: the chance-corrected recall of the given label, ``(recall - share) / (1 - share)``
  (``share``: how often the evidence predicts the class at all);
* per confused pair (the largest off-diagonal cells of the confident joint): the pair's
  separability, ``2 AUC - 1`` of ``log p_a - log p_b`` between the rows given a and given b.

All three are measured against the given labels as they are, so their own noise caps them (at
12 % noise a perfectly separating space reads about 0.87; a small class that receives many of a
big class's wrong labels reads lower). They are not corrected by the noise the confident joint
estimates: where the evidence is weak that estimate is inflated, and the correction would call a
space strong because it cannot tell its classes apart.

Per row, the Bayesian reading of the given label: with ``T[y | j]``, the share of rows of true
  class j given label y (the calibrated confident joint, column-normalised), the probability
  that the true class is j is ``p_j T[y | j] / sum_m p_m T[y | m]``. ``suggestion_probability`` is
  that of the suggested class, ``mislabel_probability`` one minus that of the given class. A
  relabel needs the first to reach the plan's ``relabel_threshold`` (0.95 by default); a review
  needs the second to reach one half (the label is more likely wrong than right).

A class or pair is *weak* below :data:`curate.config.WEAK_LABEL_EVIDENCE`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.config import WEAK_LABEL_EVIDENCE
from curate.score.noise.confident import ProbabilityBlocks

#: What :attr:`LabelEvidence.measured` says.
MEASURED = (
    "out-of-fold pooled probabilities against the given labels: strength = Cohen's kappa of the "
    "prediction vs the given label; class = chance-corrected recall of the given label; pair = "
    "2 AUC - 1 of log p_a - log p_b between rows given a and given b"
)


@dataclass
class LabelEvidence:
    """How well the out-of-sample evidence tells the classes apart.

    strength:               overall kappa (see the module doc); None when nothing was scored
    class_strength:         (K,) float64 chance-corrected recall per class, NaN for absent classes
    pairs:                  [(a, b, separability, rows)] for the most confused pairs, weakest first
    suggestion_probability: (N,) float32 probability that ``suggested_label`` is the true class;
                            NaN where not scored
    mislabel_probability:   (N,) float32 probability that the given label is wrong; NaN where not scored
    """

    strength: float | None
    class_strength: np.ndarray
    pairs: list[tuple[int, int, float, int]]
    suggestion_probability: np.ndarray
    mislabel_probability: np.ndarray
    notes: list[str] = field(default_factory=list)

    def weak_classes(self) -> list[int]:
        """Classes whose evidence is below :data:`WEAK_LABEL_EVIDENCE`."""
        return [int(c) for c in np.flatnonzero(np.nan_to_num(self.class_strength, nan=1.0) < WEAK_LABEL_EVIDENCE)]

    def weak_pairs(self) -> list[tuple[int, int, float, int]]:
        """Confused pairs whose separability is below :data:`WEAK_LABEL_EVIDENCE`."""
        return [p for p in self.pairs if p[2] < WEAK_LABEL_EVIDENCE]

    @property
    def is_weak(self) -> bool:
        """The whole space's evidence is below :data:`WEAK_LABEL_EVIDENCE`."""
        return self.strength is not None and self.strength < WEAK_LABEL_EVIDENCE

    def as_dict(self, class_names: list[str]) -> dict[str, Any]:
        """The JSON record (issues.parquet metadata, then summary.json's ``label_evidence``)."""

        def rounded(x: float) -> float:
            return round(float(x), 4)

        return {
            "strength": None if self.strength is None else rounded(self.strength),
            "weak": self.is_weak,
            "threshold": WEAK_LABEL_EVIDENCE,
            "weak_classes": [
                {"class_name": class_names[c], "strength": rounded(self.class_strength[c])} for c in self.weak_classes()
            ],
            "weak_pairs": [
                {"classes": [class_names[a], class_names[b]], "separability": rounded(s), "rows": n}
                for a, b, s, n in self.weak_pairs()
            ],
            "pairs_measured": len(self.pairs),
            "measured": MEASURED,
        }

    @classmethod
    def unmeasured(cls, n: int, num_classes: int, note: str) -> LabelEvidence:
        return cls(
            strength=None,
            class_strength=np.full(num_classes, np.nan),
            pairs=[],
            suggestion_probability=np.full(n, np.nan, dtype=np.float32),
            mislabel_probability=np.full(n, np.nan, dtype=np.float32),
            notes=[note],
        )


def measure_evidence(
    labels: np.ndarray,
    probs: ProbabilityBlocks,
    suggested: np.ndarray,
    confident_joint: np.ndarray,
    confused_pairs: list[tuple[int, int, int]],
) -> LabelEvidence:
    """One pass over the probability blocks.

    labels: (N,) int64 given labels, -1 unscored;  probs: their (N, K) out-of-sample probabilities;
    suggested: (N,) int64 the suggestion per row (-1 none);  confident_joint: (K, K) calibrated
    counts, rows = given label, columns = likely true class;  confused_pairs: ``(given, true, count)``
    from :func:`curate.score.noise.result.joint_findings`.
    """
    n, k = len(labels), probs.num_classes
    scored = np.flatnonzero(labels >= 0)
    if scored.size == 0:
        return LabelEvidence.unmeasured(n, k, "label evidence not measured: no labelled rows")
    joint = np.asarray(confident_joint, dtype=np.float64)
    column = joint.sum(axis=0)
    transition = joint / np.where(column > 0, column, 1.0)  # T[y, j] = P(given y | true j)
    pair_list = _unordered_pairs(confused_pairs)
    pair_scores: list[list[np.ndarray]] = [[] for _ in pair_list]
    pair_sides: list[list[np.ndarray]] = [[] for _ in pair_list]

    suggestion_probability = np.full(n, np.nan, dtype=np.float32)
    mislabel_probability = np.full(n, np.nan, dtype=np.float32)
    predicted = np.full(scored.size, -1, dtype=np.int64)
    at = 0
    for rows, p in probs.blocks(scored):
        y = labels[rows]
        p64 = p.astype(np.float64)
        likelihood = p64 * transition[y]  # (B, K): p_j T[y | j]
        total = likelihood.sum(axis=1)
        total = np.where(total > 0, total, 1.0)
        s = suggested[rows]
        has = s >= 0
        suggestion_probability[rows] = np.where(
            has, likelihood[np.arange(len(rows)), np.where(has, s, 0)] / total, np.nan
        )
        mislabel_probability[rows] = 1.0 - likelihood[np.arange(len(rows)), y] / total
        predicted[at : at + len(rows)] = p.argmax(axis=1)
        at += len(rows)
        logp = np.log(np.maximum(p64, 1e-30))
        for i, (a, b) in enumerate(pair_list):
            mine = (y == a) | (y == b)
            if mine.any():
                pair_scores[i].append(logp[mine, a] - logp[mine, b])
                pair_sides[i].append(y[mine] == a)

    given = labels[scored]
    counts = np.bincount(given, minlength=k)
    prior = counts / scored.size
    share = np.bincount(predicted, minlength=k) / scored.size
    observed = float(np.mean(predicted == given))
    chance = float(prior @ share)
    strength = (observed - chance) / (1.0 - chance) if chance < 1 else 0.0
    hits = np.bincount(given[predicted == given], minlength=k)
    recall = hits / np.maximum(counts, 1)
    class_strength = np.where(share < 1, (recall - share) / np.maximum(1.0 - share, 1e-12), 0.0)
    class_strength[counts == 0] = np.nan

    pairs = []
    for (a, b), scores, sides in zip(pair_list, pair_scores, pair_sides):
        if not scores:
            continue
        x, is_a = np.concatenate(scores), np.concatenate(sides)
        if is_a.all() or not is_a.any():
            continue
        pairs.append((a, b, 2.0 * _auc(x, is_a) - 1.0, int(len(x))))
    pairs.sort(key=lambda pair: pair[2])
    return LabelEvidence(float(strength), class_strength, pairs, suggestion_probability, mislabel_probability)


def _unordered_pairs(confused_pairs: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """The distinct class pairs of the confident joint's largest off-diagonal cells, in order."""
    seen: dict[tuple[int, int], None] = {}
    for a, b, _ in confused_pairs:
        seen.setdefault((min(a, b), max(a, b)), None)
    return list(seen)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` ((n,) float) for ``positive`` ((n,) bool), ties halved."""
    # average ranks of ties, as scipy.stats.rankdata gives them (whose import alone is ~0.7 s)
    order = np.argsort(scores, kind="stable")
    ordered = np.asarray(scores)[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts)  # 1-based tie group of each sorted position
    bounds = np.r_[np.flatnonzero(starts), len(ordered)]
    ranks = np.empty(len(ordered), dtype=np.float64)
    ranks[order] = 0.5 * (bounds[group] + bounds[group - 1] + 1)
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def describe_evidence(record: dict[str, Any] | None) -> str | None:
    """The plain-words line the ``scan`` headline and the report show about summary.json's
    ``label_evidence`` record; None when there is nothing to warn about (the evidence is strong
    and no pair is weak, or nothing was measured)."""
    if not record or record.get("strength") is None:
        return None
    pairs = record.get("weak_pairs") or []
    held = int(record.get("num_not_queued") or 0)
    held_pairs = len(record.get("not_queued") or [])
    held_note = (
        f"; {held} flagged labels in {held_pairs} class pair{'s' if held_pairs != 1 else ''} are not queued for "
        "review (the evidence puts them more likely right than wrong)"
        if held
        else ""
    )
    if record.get("weak"):
        return (
            f"label evidence WEAK (strength {record['strength']:.2f}, 0 = chance): this embedding barely tells the "
            f"classes apart, so no label is changed; use a stronger model or review by class pair{held_note}"
        )
    if pairs:
        shown = ", ".join(" / ".join(p["classes"]) for p in pairs[:3])
        more = f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
        return (
            f"label evidence {record['strength']:.2f}, but the embedding barely separates {len(pairs)} class "
            f"pair{'s' if len(pairs) != 1 else ''} ({shown}{more}): labels between them are not changed{held_note}"
        )
    return None
