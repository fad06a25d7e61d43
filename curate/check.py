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

from dataclasses import asdict, dataclass
from typing import Any

from curate.errors import DataError, UsageError
from curate.issues import Gate, gates
from curate.workspace import Workspace


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
            producer = next(g.producer for g in gates() if g.summary_key == self.name)
            return f"{self.name} not measured (run `{producer}` and `curate export`)"
        at_least = next((g.at_least for g in gates() if g.summary_key == self.name), False)
        op = (">=" if self.passed else "<") if at_least else ("<=" if self.passed else ">")
        value = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.name} {value} {op} {self.limit:g}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}


def check_limit(gate: Gate, value: float | int) -> None:
    """UsageError, naming the flag, when ``value`` is outside what ``gate`` can compare."""
    if gate.kind == "ratio" and not value >= 1.0:
        raise UsageError(f"{gate.flag} must be at least 1 (largest class / smallest class), got {value}")
    if gate.kind == "fraction" and not 0.0 <= value <= 1.0:
        raise UsageError(f"{gate.flag} is a fraction between 0 and 1, got {value}")
    if gate.kind == "count" and not value >= 0:
        raise UsageError(f"{gate.flag} is a count, got {value}")


def validate_thresholds(*, no_leakage: bool = False, **limits: float | int | None) -> dict[str, float]:
    """The given thresholds as {keyword: limit}; UsageError when none is given or one is out of range.

    ``limits`` are gate keywords (:func:`curate.issues.gates`: ``max_label_issues=0.05`` ...);
    None means not given. ``no_leakage`` is ``max_leaks=0``.
    """
    known = {g.keyword: g for g in gates()}
    unknown = sorted(set(limits) - set(known))
    if unknown:
        raise UsageError(f"unknown threshold {unknown[0]!r}; thresholds are: {', '.join(known)}")
    given = {k: v for k, v in limits.items() if v is not None}
    for key, value in given.items():
        check_limit(known[key], value)
    if no_leakage:
        given["max_leaks"] = 0
    if not given:
        raise UsageError("give at least one threshold, e.g. --max-label-issues 0.05 (see `curate check --help`)")
    return given


def evaluate(summary: dict[str, Any], thresholds: dict[str, float]) -> list[CheckResult]:
    """Every threshold against a summary.json dict, in the order of :func:`curate.issues.gates`."""
    results = []
    for g in gates():
        keyword, key = g.keyword, g.summary_key
        if keyword not in thresholds:
            continue
        value = summary.get(key)
        limit = thresholds[keyword]
        reason = (summary.get("not_measured") or {}).get(key) if value is None else None
        results.append(CheckResult(key, value, limit, value is not None and g.passes(value, limit), reason))
    return results


def read_summary(ws: Workspace) -> dict[str, Any]:
    """summary.json of a workspace (UsageError when there is none to read)."""
    if not ws.root.is_dir():
        raise UsageError(f"workspace {ws.root} does not exist")
    path = ws.path("summary")
    if not path.exists():
        raise UsageError(f"{path} does not exist; run `curate export {ws.root}` (or `curate scan`) first")
    summary = ws.read_json("summary")
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
