"""WebDataset tar shards, as img2dataset writes them.

A shard (``00000.tar``) holds samples as members sharing a key: ``000000012.jpg``,
``000000012.txt`` (caption), ``000000012.json`` (metadata), optionally ``000000012.cls``. The key
is the member path up to the first dot of its file name (WebDataset's rule). The label is the
``.cls`` text, else the ``label_column`` field of the ``.json``; the caption is the ``.txt``
text, else the ``caption_column`` field of the ``.json`` (:mod:`curate.index.captions`). Keys without an image member
are not samples. ``sample_id`` is ``<shard relative to DATA>/<key>``; ``member`` is the image's
member name; the split comes from the shard's path (``train/00000.tar`` -> ``train``).

Listing reads the tar headers and the small label members in one sequential pass; the images
themselves are read later, in the validator's worker processes. A remote shard (a URL) is
streamed once from start to end (memory: one member at a time) and each image's member records
its byte range (:func:`curate.index.images.ranged_member`), so the validator and the embed
stage fetch one image with one range read. Members of keys without an image, and files under
DATA that are not ``.tar`` shards, are skipped with their reason.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable
from typing import IO, Any

from curate.errors import DataError
from curate.index.candidates import Candidate, is_image_name, label_cell, label_text, split_from_parts
from curate.index.captions import DEFAULT_CAPTION_COLUMN, caption_text, json_field
from curate.index.images import ranged_member, unsupported_extensions
from curate.index.remote import RemoteReadError, open_url, retrying
from curate.index.walk import NOT_AN_IMAGE, UNSUPPORTED, Skipped, Tree

TAR_SUFFIXES = (".tar",)
NOT_A_SHARD = "not a .tar shard"


def is_shard_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def split_key(name: str) -> tuple[str, str]:
    """``dir/000012.seg.png`` -> (``dir/000012``, ``seg.png``)."""
    head, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{head}/{stem}" if head else stem), ext


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def _member_reason(name: str) -> str:
    return UNSUPPORTED if posixpath.splitext(name)[1].lower() in unsupported_extensions() else NOT_AN_IMAGE


#: what one pass over a shard finds: image member per key, label per key, caption per key,
#: (key, member name) of every other member
Members = tuple[dict[str, str], dict[str, Any], dict[str, str | None], list[tuple[str, str]]]


def _scan_members(
    tar: tarfile.TarFile, label_column: str, caption_column: str, name_of: Callable[[tarfile.TarInfo], str]
) -> Members:
    """:data:`Members` of one sequential pass over ``tar``; ``name_of`` gives the ``member``
    recorded for an image."""
    images: dict[str, str] = {}
    labels: dict[str, Any] = {}  # a .cls text, or the .json field: a string or a list of tags
    captions: dict[str, str | None] = {}
    json_labels: dict[str, Any] = {}
    json_captions: dict[str, str | None] = {}
    others: list[tuple[str, str]] = []
    for member in tar:
        if not member.isfile():
            continue
        key, ext = split_key(member.name)
        ext = ext.lower()
        if ext == "cls":
            labels[key] = label_text(_read_small(tar, member).decode("utf-8", "replace"))
        elif ext == "txt":
            captions[key] = caption_text(_read_small(tar, member))
        elif ext == "json":
            raw = _read_small(tar, member)
            json_labels[key] = json_field(raw, label_column)
            json_captions[key] = caption_text(json_field(raw, caption_column))
        elif is_image_name(member.name) and key not in images:
            images[key] = name_of(member)
            continue
        others.append((key, member.name))
    for found, from_json in ((labels, json_labels), (captions, json_captions)):
        for key, value in from_json.items():
            if found.get(key) is None:
                found[key] = value
    return images, labels, captions, others


def _open_shard(shard: str, remote: bool) -> tuple[IO[bytes] | None, tarfile.TarFile]:
    if remote:
        handle = open_url(shard)
        return handle, tarfile.open(fileobj=handle, mode="r|")  # a stream: one pass, bounded memory
    return None, tarfile.open(shard, "r")


def list_shard(
    shard: str,
    rel: str,
    *,
    label_column: str = "label",
    caption_column: str = DEFAULT_CAPTION_COLUMN,
    remote: bool = False,
) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates of one tar shard (a local path or a URL), in member order, and the members of
    keys that have no image."""

    def read() -> Members:
        handle, tar = _open_shard(shard, remote)
        try:
            with tar:
                if remote:
                    return _scan_members(
                        tar, label_column, caption_column, lambda m: ranged_member(m.name, m.offset_data, m.size)
                    )
                return _scan_members(tar, label_column, caption_column, lambda m: m.name)
        finally:
            if handle is not None:
                handle.close()

    try:
        images, labels, captions, others = retrying(shard, read) if remote else read()
    except RemoteReadError:
        raise
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{shard} is not a readable tar shard: {exc}") from None
    split = split_from_parts(rel.split("/"))
    candidates = []
    for key, member in images.items():
        label, tags = label_cell(labels.get(key))  # a .json list is the sample's tags
        candidates.append(
            Candidate(f"{rel}/{key}", shard, member, "webdataset", label, split, caption=captions.get(key), tags=tags)
        )
    skipped = [Skipped(f"{rel}/{name}", _member_reason(name)) for key, name in others if key not in images]
    return candidates, skipped


def list_webdataset(
    tree: Tree, *, label_column: str = "label", caption_column: str = DEFAULT_CAPTION_COLUMN
) -> tuple[list[Candidate], list[Skipped]]:
    """Candidates of every shard of ``tree`` (or of the single shard it is), and what was skipped:
    files that are not shards, members of keys without an image."""
    out: list[Candidate] = []
    skipped: list[Skipped] = []
    for rel in tree.files:
        if not is_shard_name(rel) and not tree.single:
            skipped.append(Skipped(rel, NOT_A_SHARD))
            continue
        found, left = list_shard(
            tree.location(rel), rel, label_column=label_column, caption_column=caption_column, remote=tree.remote
        )
        out.extend(found)
        skipped.extend(left)
    return out, skipped
