"""What every reader produces: one :class:`Candidate` per sample, before any image is decoded.

A reader only lists samples (id, where the bytes are, label, split); the validator
(:mod:`curate.index.validate`) then reads and decodes each one. Keeping the two apart lets the
slow part run in parallel and lets every reader stay a plain listing function.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from curate.errors import DataError
from curate.index.images import image_extensions

#: Folder / file-name parts that name a dataset split rather than a class (compared lower-case).
SPLIT_NAMES = frozenset(
    {
        "train",
        "training",
        "trainval",
        "val",
        "valid",
        "validation",
        "test",
        "testing",
        "dev",
        "eval",
        "evaluation",
        "holdout",
        "calib",
        "calibration",
    }
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One sample as a reader lists it.

    ``path`` is absolute (the image file, or the tar / Parquet container); ``member`` locates
    the sample inside a container (tar member name, ``"row:<i>"``), None for plain files.
    ``error`` is set when the reader already knows the sample is unreadable (it is then not
    decoded). ``caption`` is the sample's text (an image-text pair's caption), None without one.
    ``tags`` is the sample's tag set when its label cell is a list (multi-label data; ``label`` is
    then None), None otherwise (:mod:`curate.index.tags` reads delimited strings into it too).
    """

    sample_id: str
    path: str
    member: str | None
    source: str
    label: str | None
    split: str | None
    error: str | None = None
    caption: str | None = None
    tags: tuple[str, ...] | None = None


def is_split_name(name: str) -> bool:
    return name.lower() in SPLIT_NAMES


def is_image_name(name: str) -> bool:
    """True when the file name has the extension of a format this Pillow decodes (any case;
    :func:`curate.index.images.image_extensions`)."""
    return posixpath.splitext(name)[1].lower() in image_extensions()


def split_from_parts(parts: Sequence[str]) -> str | None:
    """The first path part (or file-stem prefix before ``-``/``_``) that names a split.

    ``data/train-00000-of-00002.parquet`` -> ``train``; ``val/00001.tar`` -> ``val``.
    """
    for part in parts:
        stem = part.split(".", 1)[0]
        for piece in (stem, re.split(r"[-_]", stem, maxsplit=1)[0]):
            if is_split_name(piece):
                return piece
    return None


def label_text(value: object) -> str | None:
    """A label cell -> class name; None, NaN and blank mean unlabelled. ``3.0`` -> ``"3"``."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    return text or None


def tag_cell(value: object) -> tuple[str, ...] | None:
    """A cell that is a list (or tuple / numpy array) -> its tags, sorted and distinct (blank and
    null items dropped); None for any other cell."""
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1):
        items = value.tolist() if hasattr(value, "tolist") else value
        return distinct_tags(label_text(v) for v in items)
    return None


def distinct_tags(tags: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted_class_names(t for t in tags if t is not None))


def label_cell(value: object) -> tuple[str | None, tuple[str, ...] | None]:
    """A label cell -> ``(label, tags)``: a list cell (multi-label) gives its tags and no label,
    any other cell its :func:`label_text` and no tags."""
    tags = tag_cell(value)
    return (None, tags) if tags is not None else (label_text(value), None)


def mixed_spellings(values: Iterable[object]) -> list[str]:
    """Class names that a label column spells both as a number and as text (``1`` and ``"1"``,
    ``2.0`` and ``"2"``): :func:`label_text` reads them as one class, and a user should hear so,
    since a tool that compares values rather than names would see two. Sorted as class names."""
    as_number: set[str] = set()
    as_text: set[str] = set()
    for value in values:
        name = label_text(value)
        if name is None or isinstance(value, bool):
            continue
        (as_number if isinstance(value, (int, float)) else as_text).add(name)
    return sorted_class_names(as_number & as_text)


def sorted_class_names(labels: Iterable[str | None]) -> list[str]:
    """Sorted unique labels; numerically when every label is an integer (``2`` before ``10``)."""
    names = {label for label in labels if label is not None}
    if names and all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def check_unique(candidates: Sequence[Candidate], data: str) -> None:
    """Duplicate sample_ids would break every join downstream: one error naming the worst."""
    counts = Counter(c.sample_id for c in candidates)
    if len(counts) == len(candidates):
        return
    dups = [sid for sid, n in counts.items() if n > 1]
    first = min(dups)
    raise DataError(
        f"{len(dups)} sample_id(s) occur more than once in {data} (e.g. {first!r}, {counts[first]} times); "
        "sample_ids must be unique (give a manifest an `id` column, or remove the repeated rows)"
    )
