"""Captions of image-text pairs, as the readers find them.

A caption is the text that goes with an image in a pre-training set: a WebDataset ``.txt``
member (img2dataset's caption) or the ``caption`` field of its ``.json``, or a column of a
manifest or of Hugging Face Parquet (``--caption-column``, default ``caption``). Captions are
kept as written (surrounding whitespace stripped); a blank or missing caption is None, and data
without captions has None everywhere.
"""

from __future__ import annotations

import json
import math

#: the caption column / WebDataset .json field read when no other is named
DEFAULT_CAPTION_COLUMN = "caption"


def caption_text(value: object) -> str | None:
    """A caption cell -> its text; None, NaN and blank mean no caption."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def json_field(raw: bytes, field: str) -> object:
    """The value of ``field`` in a JSON object (a WebDataset ``.json`` member); None when the
    member is not a JSON object or lacks the field."""
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    return meta.get(field) if isinstance(meta, dict) else None
