"""What an issue type declares: its columns, its flag and score, its rate, its gate, its plan rule
and its report section.

An issue type is one module in :mod:`curate.issues` with a module-level ``ISSUE_TYPE``; the
registry (:mod:`curate.issues.registry`) finds every such module, so adding a type is one file
(and one test). Declarations are plain data and import nothing heavy: the CLI builds the options
of ``curate check`` from them at start-up. The scoring function, which does import numpy and
friends, is named by import path and resolved only when the score stage runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

#: Arrow type names a column may have (curate.schemas turns them into pyarrow types).
ColumnType = Literal["string", "bool", "float32", "float64", "int64", "list<string>", "list<float32>"]


@dataclass(frozen=True)
class Column:
    """One per-sample column of issues.parquet.

    name: column name;  type: Arrow type name;  nullable: may hold nulls;  doc: what it means
    """

    name: str
    type: ColumnType
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class Gate:
    """A threshold of ``curate check`` (and a headline card of the report).

    keyword: the option's keyword (``max_outliers`` -> ``--max-outliers``)
    summary_key: the summary.json number it compares, ``value <= limit``
    kind: ``fraction`` (0..1), ``ratio`` (>= 1) or ``count`` (>= 0, integer)
    default: the default limit (the report colours its cards against it)
    title: the report card's title;  help: the option's help text
    producer: the command that measures the number (named when it is missing)
    at_least: the number must be at least the limit (``value >= limit``, a ``--min-...`` gate)
    """

    keyword: str
    summary_key: str
    kind: Literal["fraction", "ratio", "count"]
    default: float
    title: str
    help: str
    producer: str = "curate score"
    at_least: bool = False

    def passes(self, value: float, limit: float) -> bool:
        """Whether a measured ``value`` passes ``limit``."""
        return value >= limit if self.at_least else value <= limit

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--max-outliers``."""
        return "--" + self.keyword.replace("_", "-")


@dataclass(frozen=True)
class PlanRule:
    """What ``curate propose`` does with a flagged sample of this type.

    action: ``review`` or ``drop`` (a flag never keeps or relabels on its own)
    reason: the reason recorded in the plan, formatted with the sample's issue columns
            (``str.format(**row)``)
    """

    action: Literal["review", "drop"]
    reason: str


@dataclass(frozen=True)
class ReportSection:
    """A report section listing the flagged samples, least clean first (by the score column).

    anchor: the section's id in the page (``report.html#outliers``) and its key in the report
    stage's summary;  title: the section's heading;  lead: its first sentence, formatted with
    ``total`` (flagged samples) and ``shown`` (tiles);  detail: each tile's caption detail,
    formatted with the sample's issue columns.  only_when_flagged: the page leaves the section
    out when it lists nothing (seven image-defect sections saying "none" would bury the rest).
    """

    anchor: str
    title: str
    lead: str
    detail: str
    only_when_flagged: bool = False


@dataclass(frozen=True)
class IssueType:
    """One kind of per-sample issue.

    name:      short name (``outlier``), also the report section's anchor
    columns:   its columns in issues.parquet, in order
    flag:      the bool column that marks a sample as having the issue (``is_<name>``)
    score:     the 0..1 column, 1 = clean, that ranks samples (None: no score)
    rate:      the summary.json key of the share of flagged samples (over readable samples)
    gates:     the thresholds of ``curate check`` that read this type's numbers
    rule:      what ``curate propose`` does with a flagged sample (None: built into propose)
    section:   a generic report section (None: the report has a section of its own for it)
    scorer:    ``"module:function"``; the function takes a
               :class:`curate.score.context.ScoreContext` and returns ``{column: (N,) values}``
               (numpy arrays, lists, or pyarrow arrays where nulls matter)
    order:     position in issues.parquet and every listing (lower first)
    measured_by: a column that is null where the flag was not measured (the rate then counts
               only measured rows, and is null, with ``not_measured`` as the reason, when none is)
    """

    name: str
    columns: tuple[Column, ...]
    flag: str
    rate: str
    scorer: str
    order: int
    score: str | None = None
    gates: tuple[Gate, ...] = ()
    rule: PlanRule | None = None
    section: ReportSection | None = None
    measured_by: str | None = None
    not_measured: str = ""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        missing = [c for c in (self.flag, self.score) if c is not None and c not in names]
        if missing:
            raise ValueError(f"issue type {self.name!r}: {missing} are not among its columns {names}")

    def scoring_function(self) -> Callable[[Any], dict[str, Any]]:
        """The scorer, imported on first use."""
        module, attr = self.scorer.split(":")
        return getattr(importlib.import_module(module), attr)
