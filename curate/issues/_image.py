"""What the seven image-defect types (``dark``, ``light``, ``blurry``, ...) declare alike: an
``is_<name>`` flag and a ``<name>_score`` (0..1, 1 = clean, null where the image was not
measured), a ``<name>_rate``, a ``--max-<name>`` gate, a plan rule and a report section. Each type's
module says only what differs (its measure lives in its scorer, :mod:`curate.score.defects`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from curate.issues.base import Column, Gate, IssueType, PlanRule, ReportSection

#: why an image-defect rate is null: nothing was decoded to measure
NOT_MEASURED = "no image was measured (array inputs: no pictures to look at)"
#: the default limit of every image-defect gate (a share of the readable images)
DEFAULT_LIMIT = 0.05


@dataclass(frozen=True)
class Measure:
    """How one image defect is measured and bounded (judged by :func:`curate.score.defects.judge`).

    name:      the issue type (``dark``)
    meaning:   what the user-facing number is (an explicit threshold is given in these units)
    natural:   ``stats -> (N,) float64`` the user-facing number from the image stats
               (:func:`curate.score.defects.load_image_stats`), NaN where not measured
    higher_is_worse: the natural number grows with the defect (a threshold then flags above it)
    log:       judged on the logarithm (ratios: sharpness, shape, size)
    floor:     natural value at or beyond which an image always has the defect (None: no floor)
    bound:     natural value on the clean side of which it never has it (None: no bound)
    relative:  whether the dataset's distribution decides at all (grayscale is a fact: floor only)
    rivals:    types that often flag the same picture for one cause (a dark photo has few grey
               levels): a sample flagged by both keeps the flag it shows most strongly
    """

    name: str
    meaning: str
    natural: Callable[[Mapping[str, Any]], Any]
    higher_is_worse: bool = False
    log: bool = False
    floor: float | None = None
    bound: float | None = None
    relative: bool = True
    rivals: tuple[str, ...] = ()

    def oriented(self, values: Any) -> Any:
        """Natural values -> the judged scale, (N,) float64: log if ``log``, negated if higher is
        worse, so that lower is always worse."""
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(values) if self.log else np.asarray(values, dtype=np.float64)
        return -v if self.higher_is_worse else v


def image_defect(
    name: str,
    *,
    order: int,
    title: str,
    what: str,
    action: Literal["review", "drop"],
    reason: str,
    lead: str,
) -> IssueType:
    """The issue type of one image defect.

    name: the type (``dark``); title: the report's heading and card; what: the flag's meaning (the
    column doc and the gate's help); action / reason: the plan rule (``reason`` may use
    ``{score}``); lead: the report section's first sentence (``{total}``, ``{shown}``).
    """
    flag, score = f"is_{name}", f"{name}_score"
    return IssueType(
        name=name,
        order=order,
        columns=(
            Column(flag, "bool", nullable=False, doc=what),
            Column(score, "float32", doc="0..1, 1 = clean, 0.5 at the cut; null when not measured"),
        ),
        flag=flag,
        score=score,
        rate=f"{name}_rate",
        measured_by=score,
        not_measured=NOT_MEASURED,
        gates=(
            Gate(
                f"max_{name}",
                f"{name}_rate",
                "fraction",
                DEFAULT_LIMIT,
                title,
                f"Highest acceptable share of images that are {what}.",
            ),
        ),
        rule=PlanRule(action, reason.replace("{score", "{" + score)),
        section=ReportSection(
            anchor=name.replace("_", "-"),
            title=title,
            lead=lead,
            detail=f"{name.replace('_', ' ')} score {{{score}:.2f}}",
            only_when_flagged=True,
        ),
        scorer=f"curate.issues.{name}:score",
    )
