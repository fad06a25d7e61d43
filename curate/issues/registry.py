"""Every issue type, found by module: each module of :mod:`curate.issues` that defines a
module-level ``ISSUE_TYPE`` (an :class:`~curate.issues.base.IssueType`) is registered, ordered by
its ``order``; :func:`register` adds one from elsewhere (a plugin, a test). Schemas, the score
stage, summary.json, ``curate check``, ``curate propose`` and the report iterate over
:func:`issue_types`; nothing else lists the types. (The command line builds ``curate check``'s
options when it is imported, so a type registered later is offered by the library, not the CLI.)
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path

from curate.issues.base import Gate, IssueType

#: Gates on the dataset as a whole, not on one issue type.
DATASET_GATES: tuple[Gate, ...] = (
    Gate(
        "max_imbalance_ratio",
        "imbalance_ratio",
        "ratio",
        100.0,
        "Imbalance ratio",
        "Highest acceptable largest / smallest class size.",
        producer="curate index",
    ),
    Gate(
        "max_unreadable",
        "unreadable_rate",
        "fraction",
        0.01,
        "Unreadable inputs",
        "Highest acceptable share of unreadable inputs.",
        producer="curate index",
    ),
    # 1.0 by default: review is a choice, so only a job that asks for coverage gates on it
    Gate(
        "max_unreviewed",
        "unreviewed_rate",
        "fraction",
        1.0,
        "Unreviewed proposals",
        "Highest acceptable share of proposals (relabel / review / drop) that no person has decided "
        "yet (`curate apply`).",
        producer="curate propose",
    ),
)

_NOT_TYPES = {"base", "registry"}
_REGISTERED: list[IssueType] = []


def register(issue_type: IssueType) -> None:
    """Add an issue type that lives outside :mod:`curate.issues`."""
    _REGISTERED.append(issue_type)
    issue_types.cache_clear()


def unregister(name: str) -> None:
    """Remove a type added by :func:`register`."""
    _REGISTERED[:] = [t for t in _REGISTERED if t.name != name]
    issue_types.cache_clear()


@functools.cache
def issue_types() -> tuple[IssueType, ...]:
    """Every registered issue type, in ``order``."""
    found = list(_REGISTERED)
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name in _NOT_TYPES or module.name.startswith("_"):
            continue
        declared = getattr(importlib.import_module(f"{__package__}.{module.name}"), "ISSUE_TYPE", None)
        if isinstance(declared, IssueType):
            found.append(declared)
    found.sort(key=lambda t: (t.order, t.name))
    names = [t.name for t in found]
    columns = [c.name for t in found for c in t.columns]
    if len(set(names)) != len(names) or len(set(columns)) != len(columns):
        raise RuntimeError(f"issue types {names} declare a name or a column twice")
    return tuple(found)


def gates() -> tuple[Gate, ...]:
    """Every threshold ``curate check`` offers: each issue type's, in order, then the dataset's."""
    return tuple(g for t in issue_types() for g in t.gates) + DATASET_GATES


def gate(keyword: str) -> Gate:
    """The gate of an option keyword (``max_outliers``)."""
    for g in gates():
        if g.keyword == keyword:
            return g
    raise KeyError(keyword)
