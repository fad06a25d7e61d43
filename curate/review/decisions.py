"""People's decisions about proposals: the file a reviewer exports, checked, and matched to samples.

A decisions file (CSV, or JSON Lines) has one row per sample a person decided, with the columns
``sample_id``, ``decision``, ``label``, ``note`` and optionally ``hash`` (the content hash the
report exported with the row). ``decision`` is one of :data:`curate.schemas.DECISION_WORDS`:

* ``accept``   take what curate suggests (the plan's ``suggested_action`` / ``suggested_label``);
* ``keep``     the given label stands;
* ``relabel``  to ``label`` (a known class);
* ``drop``     leave the sample out of training.

:func:`resolve_decisions` checks every row against the workspace's samples, classes and plan and
turns it into what it means (:data:`curate.schemas.DECISIONS`): the final action and label, and
whether that is what curate suggested. Every problem is one line naming the file and the line;
a file with any problem records nothing.

Decisions are keyed by content, not by name (:func:`content_key`): the ``hash`` of
samples.parquet, so a decision follows its image through re-scans, renames and grown datasets;
array inputs have no content hash and are keyed by their ``sample_id`` (the row number).
:func:`match_decisions` finds each recorded decision's sample in the current samples.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.errors import DataError, UsageError
from curate.schemas import DECISION_WORDS, DECISIONS

#: columns a decisions file must have; ``label``, ``note`` and ``hash`` may be left out
REQUIRED_COLUMNS = ("sample_id", "decision")
OPTIONAL_COLUMNS = ("label", "note", "hash")
#: file suffixes read as CSV, and as JSON Lines
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


class DecisionFileError(DataError):
    """A decisions file with problems: the message has one line per problem (exit 1); nothing was
    recorded."""

    def __init__(self, path: str | os.PathLike[str], problems: Sequence[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{path}: {n} problem{'s' if n != 1 else ''}; no decision was recorded"
        super().__init__("\n".join([head, *self.problems]))


def content_key(content_hash: str | None, sample_id: str) -> str:
    """What a decision is keyed by: the content hash, or ``id:<sample_id>`` for a sample without
    one (array inputs)."""
    return content_hash if content_hash else f"id:{sample_id}"


@dataclass(frozen=True)
class DecisionRow:
    """One row of a decisions file as written; ``line`` is its line number in the file."""

    line: int
    sample_id: str
    decision: str
    label: str | None
    note: str | None
    hash: str | None


def _text(value: Any) -> str | None:
    """A cell as text; empty and missing cells are None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read_decision_file(path: str | os.PathLike[str]) -> list[DecisionRow]:
    """The rows of a CSV or JSON Lines decisions file, in file order.

    A missing file or another suffix is a :class:`UsageError`; rows that cannot be read (a
    missing column, a line that is not a JSON object) raise :class:`DecisionFileError` with one
    line per problem. The values are checked by :func:`resolve_decisions`.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"decisions file {path} does not exist")
    if path.is_dir():
        raise UsageError(f"decisions file {path} is a folder; give the CSV or JSON Lines file")
    try:
        return _read_rows(path)
    except UnicodeDecodeError as exc:
        raise DecisionFileError(path, [f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None


def _read_rows(path: Path) -> list[DecisionRow]:
    suffix = path.suffix.lower()
    problems: list[str] = []
    records: list[tuple[int, dict[str, Any]]] = []
    if suffix in CSV_SUFFIXES:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DecisionFileError(
                    path, [f"{path}:1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"]
                )
            for row in reader:
                records.append((reader.line_num, {(k or "").strip(): v for k, v in row.items()}))
    elif suffix in JSONL_SUFFIXES:
        with open(path, encoding="utf-8") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    problems.append(f"{path}:{number}: not JSON ({exc.msg})")
                    continue
                if not isinstance(record, dict):
                    problems.append(f"{path}:{number}: not a JSON object")
                    continue
                missing = [c for c in REQUIRED_COLUMNS if c not in record]
                if missing:
                    problems.append(f"{path}:{number}: missing {', '.join(missing)}")
                    continue
                records.append((number, record))
    else:
        raise UsageError(
            f"decisions file {path} must be CSV ({', '.join(CSV_SUFFIXES)}) or JSON Lines ({', '.join(JSONL_SUFFIXES)})"
        )
    if problems:
        raise DecisionFileError(path, problems)
    rows = [
        DecisionRow(
            line=line,
            sample_id=_text(r.get("sample_id")) or "",
            decision=(_text(r.get("decision")) or "").lower(),
            label=_text(r.get("label")),
            note=_text(r.get("note")),
            hash=_text(r.get("hash")),
        )
        for line, r in records
    ]
    if not rows:
        raise DecisionFileError(path, [f"{path}: no decisions in the file"])
    return rows


def _outcome(action: str, label: str | None) -> str:
    return "drop" if action == "drop" else f"{action} to {label}" if action == "relabel" else "keep"


def tag_key(tags: Sequence[str]) -> str:
    """A tag set as a decision's ``label``: the JSON list of its sorted, distinct tags."""
    return json.dumps(sorted(set(tags)))


def parse_tags(text: str) -> list[str]:
    """A decision's tag set as written: a JSON list (``["cat", "sofa"]``) or tags joined by
    ``|`` (``cat|sofa``); an empty list or ``[]`` is no tag."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, list):
            return sorted({str(v).strip() for v in value if str(v).strip()})
    return sorted({part.strip() for part in stripped.split("|") if part.strip()})


def resolve_decisions(
    path: str | os.PathLike[str],
    rows: Sequence[DecisionRow],
    samples: pa.Table,
    *,
    class_names: Sequence[str],
    plan: pa.Table | None,
) -> pa.Table:
    """Check ``rows`` against the workspace and turn them into decisions.parquet rows (DECISIONS).

    samples: samples.parquet (``sample_id``, ``label``, ``hash``)
    plan:    plan.parquet with ``suggested_action`` / ``suggested_label`` (what ``accept`` takes
             and what a decision is compared with), or None before ``curate propose`` has run:
             then ``accept`` is a problem and no decision counts as accepted.

    A row names its sample by ``sample_id``; when that id is gone but the row's ``hash`` is the
    content of a current sample (the file was renamed since the report was made), that sample.
    Problems, one line each, all reported together (:class:`DecisionFileError`): an unknown
    decision word, an unknown sample, a row whose ``hash`` is not its sample's content any more,
    ``relabel`` without a label or to an unknown class, ``accept`` where curate suggests nothing
    (or no longer what the row says), and two rows that decide one sample differently.
    """
    ids = samples.column("sample_id").to_pylist()
    given = samples.column("label").to_pylist()
    multi = "labels" in samples.column_names and samples.column("labels").null_count < samples.num_rows
    if multi:  # multi-label: a label is a tag set (tag_key), `relabel` gives the new set
        given = [tag_key(t or []) for t in samples.column("labels").to_pylist()]
        rows = [replace(r, label=None if r.label is None else tag_key(parse_tags(r.label))) for r in rows]
    hashes = samples.column("hash").to_pylist() if "hash" in samples.column_names else [None] * len(ids)
    row_of = {sid: i for i, sid in enumerate(ids)}
    first_with_hash: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h:
            first_with_hash.setdefault(h, i)
    suggestion: dict[str, tuple[str | None, str | None]] = {}
    if plan is not None and "suggested_action" in plan.column_names:
        for sid, act, lab in zip(
            plan.column("sample_id").to_pylist(),
            plan.column("suggested_action").to_pylist(),
            plan.column("suggested_label").to_pylist(),
        ):
            suggestion[sid] = (act, lab)
        if multi and "suggested_labels" in plan.column_names:
            for sid, act, tags in zip(
                plan.column("sample_id").to_pylist(),
                plan.column("suggested_action").to_pylist(),
                plan.column("suggested_labels").to_pylist(),
            ):
                if act == "relabel" and tags is not None:
                    suggestion[sid] = (act, tag_key(tags))
    known = set(class_names)
    shown_classes = ", ".join(list(class_names)[:10]) + (", ..." if len(class_names) > 10 else "")

    problems: list[str] = []
    decided: dict[str, tuple[DecisionRow, dict[str, Any]]] = {}
    for row in rows:
        where = f"{path}:{row.line}"
        if not row.sample_id:
            problems.append(f"{where}: no sample_id")
            continue
        if row.decision not in DECISION_WORDS:
            problems.append(
                f"{where}: unknown decision {row.decision!r} for {row.sample_id} (one of {', '.join(DECISION_WORDS)})"
            )
            continue
        found = row_of.get(row.sample_id)
        if found is None and row.hash is not None:
            found = first_with_hash.get(row.hash)
        if found is None:
            problems.append(f"{where}: unknown sample_id {row.sample_id!r}: not in this workspace's samples")
            continue
        i = found
        if row.hash is not None and hashes[i] and row.hash != hashes[i]:
            problems.append(
                f"{where}: {row.sample_id}'s content changed since it was reviewed (hash {row.hash} is now "
                f"{hashes[i]}); review it again"
            )
            continue
        if row.label is not None and row.decision != "drop" and not gives_known(row.label, known, multi):
            problems.append(f"{where}: unknown class {row.label!r} for {row.sample_id} (classes: {shown_classes})")
            continue
        sid = ids[i]
        suggested_action, suggested_label = suggestion.get(sid, (None, None))
        if row.decision == "accept":
            if plan is None:
                problems.append(f"{where}: accept needs the plan whose suggestion it takes; run `curate propose` first")
                continue
            if suggested_action is None:
                problems.append(
                    f"{where}: nothing to accept for {sid}: curate suggests nothing; decide keep, relabel or drop"
                )
                continue
            action, label = suggested_action, (suggested_label if suggested_action != "drop" else None)
            if row.label is not None and suggested_action != "drop" and row.label != label:
                problems.append(
                    f"{where}: accept of {sid} says {row.label!r}, but curate now suggests "
                    f"{_outcome(suggested_action, suggested_label)}; export the decision again from the current report"
                )
                continue
        elif row.decision == "keep":
            action, label = "keep", given[i]
            if row.label is not None and row.label != given[i]:
                problems.append(
                    f"{where}: keep of {sid} says {row.label!r}, but its given label is {given[i]!r}; "
                    "use relabel to change it"
                )
                continue
        elif row.decision == "relabel":
            if row.label is None:
                problems.append(f"{where}: relabel of {sid} needs a label (classes: {shown_classes})")
                continue
            action, label = ("keep" if row.label == given[i] else "relabel"), row.label
        else:
            action, label = "drop", None
        accepted = suggested_action is not None and (action, label) == (
            suggested_action,
            suggested_label if suggested_action != "drop" else None,
        )
        key = content_key(hashes[i], sid)
        record = {
            "hash": key,
            "sample_id": sid,
            "decision": row.decision,
            "action": action,
            "label": label,
            "accepted": accepted,
            "note": row.note,
        }
        if key in decided:
            earlier, before = decided[key]
            if (before["action"], before["label"]) != (action, label):
                problems.append(
                    f"{where}: conflicts with line {earlier.line} for {sid}: "
                    f"{_outcome(before['action'], before['label'])} vs {_outcome(action, label)}"
                )
            continue
        decided[key] = (row, record)
    if problems:
        raise DecisionFileError(path, problems)
    return pa.Table.from_pylist([record for _, record in decided.values()], schema=DECISIONS)


def merge_decisions(previous: pa.Table | None, new: pa.Table) -> pa.Table:
    """The recorded decisions with ``new`` ones replacing those for the same content, sorted by
    key (so the same decisions always make the same file)."""
    rows = {} if previous is None else {r["hash"]: r for r in previous.to_pylist()}
    rows.update({r["hash"]: r for r in new.to_pylist()})
    return pa.Table.from_pylist([rows[k] for k in sorted(rows)], schema=DECISIONS)


def gives_unknown_class(record: Mapping[str, Any], class_names: Collection[str]) -> bool:
    """A recorded decision (a DECISIONS row) that gives its sample a class ``class_names`` does not
    have: decided before a re-scan that dropped the class. Propose leaves it unapplied."""
    if record["action"] == "drop":
        return False
    label = record["label"]
    return not gives_known(label, class_names, isinstance(label, str) and label.startswith("["))


def gives_known(label: str | None, class_names: Collection[str], multi: bool) -> bool:
    """Whether a decision's label is a known class (multi-label: a tag set, :func:`tag_key`, of
    known tags)."""
    if multi and label is not None:
        return all(t in class_names for t in json.loads(label))
    return label in class_names


def match_decisions(
    sample_ids: Sequence[str], hashes: Sequence[str | None], decisions: pa.Table
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Which recorded decision applies to each sample, and the decisions no sample matches.

    Returns ``(row, missing)``: ``row`` (N,) int64, the decisions.parquet row of each sample or
    -1; ``missing`` the decisions (as dicts) whose content is no longer in the data. A decision
    goes to the sample with its content and its ``sample_id`` when there is one; the rest go to
    samples with their content, one each, in ``sample_id`` order, so a decision about one of
    several identical copies is never copied onto the others.
    """
    n = len(sample_ids)
    row = np.full(n, -1, dtype=np.int64)
    keys = [content_key(h, sid) for h, sid in zip(hashes, sample_ids)]
    by_key: dict[str, list[int]] = {}
    for i in sorted(range(n), key=lambda i: sample_ids[i]):
        by_key.setdefault(keys[i], []).append(i)
    position = {sid: i for i, sid in enumerate(sample_ids)}
    records = decisions.to_pylist()
    pending = []
    for j, rec in enumerate(records):
        at = position.get(rec["sample_id"])
        if at is not None and keys[at] == rec["hash"] and row[at] < 0:
            row[at] = j
        else:
            pending.append(j)
    missing = []
    for j in sorted(pending, key=lambda j: records[j]["sample_id"]):
        free = [i for i in by_key.get(records[j]["hash"], []) if row[i] < 0]
        if free:
            row[free[0]] = j
        else:
            missing.append(records[j])
    return row, missing
