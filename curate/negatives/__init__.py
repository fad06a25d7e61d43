"""Hard negatives (false negatives filtered out), class-confusion pairs and contrastive batch plans."""

from curate.negatives.mining import LabelHints, confusion_pairs, mine_hard_negatives, plan_batches
from curate.negatives.stage import run_negatives

__all__ = ["LabelHints", "confusion_pairs", "mine_hard_negatives", "plan_batches", "run_negatives"]
