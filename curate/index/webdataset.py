"""WebDataset tar shards, as img2dataset writes them.

A shard (``00000.tar``) holds samples as members sharing a key: ``000000012.jpg``,
``000000012.txt`` (caption), ``000000012.json`` (metadata), optionally ``000000012.cls``. The key
is the member path up to the first dot of its file name (WebDataset's rule). The label is the
``.cls`` text, else the ``label_column`` field of the ``.json``. Keys without an image member
are not samples. ``sample_id`` is ``<shard relative to DATA>/<key>``; ``member`` is the image's
member name; the split comes from the shard's path (``train/00000.tar`` -> ``train``).

Listing reads the tar headers and the small label members in one sequential pass; the images
themselves are read later, in the validator's worker processes.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

from curate.errors import DataError
from curate.index.candidates import Candidate, files_under, is_image_name, label_text, split_from_parts

TAR_SUFFIXES = (".tar",)


def tar_files(data: Path) -> list[Path]:
    """``data`` itself, or every ``*.tar`` under it (sorted, hidden files skipped)."""
    return files_under(data, "*.tar")


def split_key(name: str) -> tuple[str, str]:
    """``dir/000012.seg.png`` -> (``dir/000012``, ``seg.png``)."""
    head, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{head}/{stem}" if head else stem), ext


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def _json_label(raw: bytes, field: str) -> str | None:
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    return label_text(meta.get(field)) if isinstance(meta, dict) else None


def list_shard(shard: Path, rel: str, *, label_column: str = "label") -> list[Candidate]:
    """Candidates of one tar shard, in member order."""
    images: dict[str, str] = {}
    cls: dict[str, str | None] = {}
    json_labels: dict[str, str | None] = {}
    try:
        with tarfile.open(shard, "r") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = split_key(member.name)
                ext = ext.lower()
                if ext == "cls":
                    cls[key] = label_text(_read_small(tar, member).decode("utf-8", "replace"))
                elif ext == "json":
                    json_labels[key] = _json_label(_read_small(tar, member), label_column)
                elif is_image_name(member.name) and key not in images:
                    images[key] = member.name
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{shard} is not a readable tar shard: {exc}") from None
    path = os.path.abspath(shard)
    split = split_from_parts(rel.split("/"))
    return [
        Candidate(f"{rel}/{key}", path, member, "webdataset", cls.get(key) or json_labels.get(key), split)
        for key, member in images.items()
    ]


def list_webdataset(data: Path, *, label_column: str = "label") -> list[Candidate]:
    """Candidates of every shard under ``data`` (or of the single shard ``data``)."""
    out: list[Candidate] = []
    for shard in tar_files(data):
        rel = shard.relative_to(data).as_posix() if data.is_dir() else shard.name
        out.extend(list_shard(shard, rel, label_column=label_column))
    return out
