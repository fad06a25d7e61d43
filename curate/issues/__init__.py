"""Issue types: one module each (label noise, duplicates, outliers, ...), found by the registry.

See :mod:`curate.issues.base` for what a type declares and docs/architecture.md for how to add one.
"""

from curate.issues.base import Column, Gate, IssueType, PlanRule, ReportSection
from curate.issues.registry import DATASET_GATES, gate, gates, issue_types, register, unregister

__all__ = [
    "Column",
    "Gate",
    "IssueType",
    "PlanRule",
    "ReportSection",
    "DATASET_GATES",
    "gate",
    "gates",
    "issue_types",
    "register",
    "unregister",
]
