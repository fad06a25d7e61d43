"""Multi-label cells: a label column of lists, JSON lists or delimited strings -> tag sets.

Readers list each sample's label cell as it is (:class:`~curate.index.candidates.Candidate`:
``label`` a string, ``tags`` a tuple when the cell itself is a list, e.g. a Parquet list column
or a WebDataset ``.json`` list); :func:`assign_tags` then decides, once for the whole dataset,
whether the data is multi-label and turns every cell into a tag set:

* a list cell anywhere, or a string cell that is a JSON list (``'["cat", "sofa"]'``), makes the
  data multi-label;
* ``separator`` (``--label-separator '|'``) splits every string cell on it;
* without one, a separator is detected when most labelled cells contain one common candidate
  (:data:`SEPARATOR_CANDIDATES`) and no other candidate is as common; the detection is said on
  stderr, and ``multi_label=False`` (``--single-label``) turns it off;
* ``multi_label=True`` (``--multi-label``) makes single strings one-tag sets.

A multi-label sample's ``label`` is None and its ``tags`` the sorted, distinct tags (an empty
tuple: no tag, which is valid); single-label data is returned unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from curate import progress
from curate.errors import UsageError
from curate.index.candidates import Candidate, distinct_tags, label_text, sorted_class_names, tag_cell

#: the separators auto-detection considers, most specific first
SEPARATOR_CANDIDATES = ("|", ";", ",")


@dataclass(frozen=True)
class TagReading:
    """How :func:`assign_tags` read the label cells: ``multi_label``, the ``separator`` used
    (None: none), and whether it was ``detected`` rather than given."""

    multi_label: bool
    separator: str | None = None
    detected: bool = False

    def as_params(self) -> dict[str, Any]:
        return {"multi_label": self.multi_label, "separator": self.separator, "detected": self.detected}


def _json_list(text: str) -> tuple[str, ...] | None:
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return tag_cell(value) if isinstance(value, list) else None


def check_separator(separator: str | None) -> None:
    """A given separator must be a visible string: one clear usage error otherwise."""
    if separator is not None and not separator.strip():
        raise UsageError(f"--label-separator must be a visible character or string, got {separator!r}")


def detect_separator(labels: Sequence[str]) -> str | None:
    """The separator most labels contain: the first of :data:`SEPARATOR_CANDIDATES` that splits
    more than half of ``labels`` into two or more non-blank parts, and more of them than any
    other candidate does (``"a;"`` is no tag set); None otherwise."""
    if not labels:
        return None

    def splits(sep: str, label: str) -> bool:
        return sum(bool(part.strip()) for part in label.split(sep)) >= 2

    shares = {sep: sum(splits(sep, label) for label in labels) / len(labels) for sep in SEPARATOR_CANDIDATES}
    best = max(SEPARATOR_CANDIDATES, key=lambda sep: shares[sep])
    others = [shares[s] for s in SEPARATOR_CANDIDATES if s != best]
    if shares[best] > 0.5 and all(share < shares[best] for share in others):
        return best
    return None


def read_cells(
    cells: Sequence[object],
    *,
    separator: str | None = None,
    multi_label: bool | None = None,
    where: str = "DATA",
) -> tuple[list[str | None], list[tuple[str, ...]] | None, TagReading]:
    """Label cells (strings, None, or lists of tags) -> ``(labels, tags, reading)``: for
    single-label data the labels (:func:`label_text`) and no tags; for multi-label data (see the
    module docstring) no labels (all None) and every row's tags. ``where`` names the data in
    messages.

    A given ``separator`` that splits none of the labels, or one given to data whose labels are
    lists, is a :class:`UsageError` (it would be silently ignored); so is ``multi_label=False``
    on data whose cells are lists.
    """
    check_separator(separator)
    listed = [tag_cell(c) for c in cells]
    strings = [label_text(c) if t is None else None for c, t in zip(cells, listed)]
    has_lists = any(t is not None for t in listed)
    given = [s for s in strings if s is not None]
    json_lists = {s: parsed for s in set(given) if (parsed := _json_list(s)) is not None}
    if multi_label is False:
        if has_lists or json_lists:
            raise UsageError(f"--single-label was given but the labels of {where} are lists (multi-label data)")
        if separator is not None:
            raise UsageError("--label-separator splits multi-label cells; it contradicts --single-label")
        return strings, None, TagReading(False)
    plain = [s for s in given if s not in json_lists]
    detected = False
    if separator is not None:
        if not plain:
            raise UsageError(
                f"--label-separator {separator!r} was given but the labels of {where} are already lists"
                if has_lists or json_lists
                else f"--label-separator {separator!r} was given but {where} has no labels"
            )
        if not any(separator in s for s in plain):
            raise UsageError(
                f"--label-separator {separator!r} occurs in none of the {len(plain):,} labels of {where} "
                f"(e.g. {plain[0]!r}); name the character that separates the tags"
            )
    else:
        separator = detect_separator(plain)
        detected = separator is not None
        if separator is not None:
            share = sum(separator in s for s in plain) / len(plain)
            progress.log(
                f"labels of {where} read as tag sets separated by {separator!r} ({share:.0%} of them contain it; "
                "--label-separator names another, --single-label reads them whole)"
            )
    if not (has_lists or json_lists or separator is not None or multi_label):
        return strings, None, TagReading(False)

    def tags_of(text: str | None, tags: tuple[str, ...] | None) -> tuple[str, ...]:
        if tags is not None:
            return tags
        if text is None:
            return ()
        if text in json_lists:
            return json_lists[text]
        if separator is not None:
            return distinct_tags(label_text(part) for part in text.split(separator))
        return (text,)

    tag_sets = [tags_of(text, tags) for text, tags in zip(strings, listed)]
    return [None] * len(cells), tag_sets, TagReading(True, separator, detected)


def assign_tags(
    candidates: list[Candidate],
    *,
    separator: str | None = None,
    multi_label: bool | None = None,
    where: str = "DATA",
) -> tuple[list[Candidate], TagReading]:
    """Candidates with their label cells read as tag sets when the data is multi-label
    (:func:`read_cells`), and how they were read; single-label candidates come back as they are."""
    cells = [c.tags if c.tags is not None else c.label for c in candidates]
    _, tag_sets, reading = read_cells(cells, separator=separator, multi_label=multi_label, where=where)
    if tag_sets is None:
        return candidates, reading
    return [replace(c, label=None, tags=t) for c, t in zip(candidates, tag_sets)], reading


def tag_names(tag_sets: Iterable[Sequence[str] | None]) -> list[str]:
    """The sorted distinct tags of every row (numerically when all are integers)."""
    return sorted_class_names(t for tags in tag_sets if tags for t in tags)
