"""The dataset gate behind ``curate check``: compare summary.json against thresholds.

Every threshold the caller gives is evaluated (not just the first failure), so a data-prep job
learns everything that is wrong in one run. A number the workspace has not measured (e.g.
``label_issue_rate`` when ``curate score`` never ran) FAILS its check: a gate must not pass
what it could not see.

Usage errors (:class:`curate.errors.UsageError`, exit 2): no threshold given, a rate outside
0..1, an imbalance ratio below 1, a workspace that does not exist, or one without summary.json
(the gate is pointed at the wrong place or runs before ``curate export``).
A corrupt summary.json is a :class:`DataError` (exit 1).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from curate.errors import DataError, UsageError
from curate.workspace import Workspace

#: threshold keyword -> (summary.json key it reads, command that measures it); every check is value <= limit
THRESHOLDS: dict[str, tuple[str, str]] = {
    "max_label_issues": ("label_issue_rate", "curate score"),
    "max_duplicates": ("duplicate_rate", "curate score"),
    "max_imbalance_ratio": ("imbalance_ratio", "curate index"),
    "max_outliers": ("outlier_rate", "curate score"),
    "max_unreadable": ("unreadable_rate", "curate index"),
    "max_leaks": ("leaks", "curate score"),
}


@dataclass
class CheckResult:
    """One threshold: ``name`` is the summary.json key it reads."""

    name: str
    value: float | int | None
    limit: float | int
    passed: bool
    reason: str | None = None  # why a null value was not measured, from summary.json

    @property
    def message(self) -> str:
        if self.value is None and self.reason:
            return f"{self.name} not measured: {self.reason}"
        if self.value is None:
            producer = next(p for key, p in THRESHOLDS.values() if key == self.name)
            return f"{self.name} not measured (run `{producer}` and `curate export`)"
        op = "<=" if self.passed else ">"
        value = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.name} {value} {op} {self.limit:g}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def validate_thresholds(*, max_label_issues: float | None = None, max_duplicates: float | None = None,
                        max_imbalance_ratio: float | None = None, max_outliers: float | None = None,
                        max_unreadable: float | None = None, max_leaks: int | None = None,
                        no_leakage: bool = False) -> dict[str, float]:
    """The given thresholds as {keyword: limit}; UsageError when none is given or one is out of range.

    ``no_leakage`` is ``max_leaks=0`` (the names `curate report` colours its headline numbers by).
    """
    given = {k: v for k, v in dict(max_label_issues=max_label_issues, max_duplicates=max_duplicates,
                                   max_imbalance_ratio=max_imbalance_ratio, max_outliers=max_outliers,
                                   max_unreadable=max_unreadable).items() if v is not None}
    for key, value in given.items():
        flag = "--" + key.replace("_", "-")
        if key == "max_imbalance_ratio":
            if not value >= 1.0:
                raise UsageError(f"{flag} must be at least 1 (largest class / smallest class), got {value}")
        elif not 0.0 <= value <= 1.0:
            raise UsageError(f"{flag} is a fraction between 0 and 1, got {value}")
    if max_leaks is not None and max_leaks < 0:
        raise UsageError(f"--max-leaks is a count of duplicate groups, got {max_leaks}")
    if no_leakage:
        given["max_leaks"] = 0
    elif max_leaks is not None:
        given["max_leaks"] = max_leaks
    if not given:
        raise UsageError("give at least one threshold, e.g. --max-label-issues 0.05 (see `curate check --help`)")
    return given


def evaluate(summary: dict[str, Any], thresholds: dict[str, float]) -> list[CheckResult]:
    """Every threshold against a summary.json dict, in the order of :data:`THRESHOLDS`."""
    results = []
    for keyword, (key, _) in THRESHOLDS.items():
        if keyword not in thresholds:
            continue
        value = summary.get(key)
        limit = thresholds[keyword]
        reason = (summary.get("not_measured") or {}).get(key) if value is None else None
        results.append(CheckResult(key, value, limit, value is not None and value <= limit, reason))
    return results


def read_summary(ws: Workspace) -> dict[str, Any]:
    """summary.json of a workspace (UsageError when there is none to read)."""
    if not ws.root.is_dir():
        raise UsageError(f"workspace {ws.root} does not exist")
    path = ws.path("summary")
    if not path.exists():
        raise UsageError(f"{path} does not exist; run `curate export {ws.root}` (or `curate scan`) first")
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); re-run `curate export --overwrite`") from None
    if not isinstance(summary, dict):
        raise DataError(f"{path} is not a JSON object; re-run `curate export --overwrite`")
    return summary


def check_workspace(ws: Workspace, **thresholds: Any) -> list[CheckResult]:
    """Evaluate the given thresholds (keywords of :func:`validate_thresholds`) on ``ws``'s summary.json.

    Returns every result; the dataset passes when all have ``passed``.
    """
    limits = validate_thresholds(**thresholds)
    return evaluate(read_summary(ws), limits)


def failed_checks(ws: Workspace, **thresholds: Any) -> list[CheckResult]:
    """Only the checks that failed (empty list = the dataset passes the gate)."""
    return [r for r in check_workspace(ws, **thresholds) if not r.passed]
