"""Proposals per sample (keep / drop / relabel / review), sampling weights and rebalancing."""

from curate.plan.propose import propose
from curate.plan.rebalance import STRATEGIES, class_weights, undersample
from curate.plan.stage import run_propose

__all__ = ["STRATEGIES", "class_weights", "propose", "run_propose", "undersample"]
