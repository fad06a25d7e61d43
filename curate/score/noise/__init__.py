"""Label-noise scoring: out-of-sample probabilities from the embeddings, then confident learning.

Sources (each switchable): :mod:`knn` (similarity-weighted vote, self and near-duplicates
excluded), :mod:`probe` (cross-validated linear probe, duplicate groups kept in one fold),
:mod:`zeroshot` (CLIP similarity to class names). :mod:`calibrate` fits one inverse temperature
per source and pools them; :mod:`confident` runs cleanlab's confident learning on the pooled
probabilities block by block (the N x K matrix is never held); :mod:`filter` does the same for
bring-your-own probabilities.

    from curate.score.noise import score_label_noise, find_issues_from_pred_probs
"""

from curate.score.noise.filter import check_labels_and_pred_probs, find_issues_from_pred_probs
from curate.score.noise.result import LabelNoiseResult
from curate.score.noise.score import SOURCES, score_label_noise

__all__ = [
    "SOURCES",
    "LabelNoiseResult",
    "check_labels_and_pred_probs",
    "find_issues_from_pred_probs",
    "score_label_noise",
]
