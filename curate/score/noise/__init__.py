"""Label-noise scoring: out-of-sample probabilities from the embeddings, then confident learning.

Sources (each switchable): :mod:`knn` (similarity-weighted vote, self and near-duplicates
excluded), :mod:`probe` (cross-validated linear probe, duplicate groups kept in one fold),
:mod:`zeroshot` (CLIP similarity to class names). :mod:`calibrate` fits one inverse temperature
per source and combines them; :mod:`filter` runs cleanlab's confident learning on the result.

    from curate.score.noise import score_label_noise, find_issues_from_pred_probs
"""

from curate.score.noise.filter import LabelNoiseResult, check_labels_and_pred_probs, find_issues_from_pred_probs
from curate.score.noise.score import SOURCES, score_label_noise

__all__ = [
    "SOURCES",
    "LabelNoiseResult",
    "check_labels_and_pred_probs",
    "find_issues_from_pred_probs",
    "score_label_noise",
]
