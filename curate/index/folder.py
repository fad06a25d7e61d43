"""ImageFolder reader: ``DATA/<class>/<img>``, or ``DATA/<split>/<class>/<img>``; DATA a local
folder or a URL prefix (``s3://bucket/photos``).

* The first folder below DATA is the class (deeper folders belong to it, as in torchvision's
  ImageFolder); images directly in DATA are unlabelled.
* When every top-level folder is named like a split (train / val / test ...), the layout is
  ``DATA/<split>/<class>/<img>`` and the folder fills ``split``.
* Files with the extension of a format Pillow decodes are samples; a file with another
  extension whose first bytes Pillow recognises as an image is a sample too. Every other file
  is skipped with its reason (an unsupported image format such as ``.svg``, or not an image),
  as hidden files and folders are (:mod:`curate.index.walk`).
* ``sample_id`` is the POSIX path relative to DATA, so it is stable across re-runs.
"""

from __future__ import annotations

import posixpath

from curate.index.candidates import Candidate, is_image_name, is_split_name
from curate.index.images import SNIFF_BYTES, looks_like_image, unsupported_extensions
from curate.index.remote import read_url
from curate.index.walk import NOT_AN_IMAGE, UNSUPPORTED, Skipped, Tree

#: extensions that are never images, so their files are not opened to check (the sidecars of
#: a dataset: captions, metadata, tables, archives)
NEVER_IMAGES = frozenset(
    {
        ".txt",
        ".json",
        ".jsonl",
        ".csv",
        ".tsv",
        ".md",
        ".xml",
        ".yaml",
        ".yml",
        ".html",
        ".py",
        ".cls",
        ".tar",
        ".parquet",
        ".npy",
        ".npz",
        ".zip",
        ".gz",
    }
)


def _head(location: str, remote: bool) -> bytes:
    if remote:
        return read_url(location, 0, SNIFF_BYTES)
    with open(location, "rb") as f:
        return f.read(SNIFF_BYTES)


def classify(tree: Tree, rel: str) -> str | None:
    """None when the file at ``rel`` is an image sample, else why it is skipped."""
    if is_image_name(rel):
        return None
    suffix = posixpath.splitext(rel)[1].lower()
    if suffix in unsupported_extensions():
        return UNSUPPORTED
    if suffix in NEVER_IMAGES:
        return NOT_AN_IMAGE
    try:
        head = _head(tree.location(rel), tree.remote)
    except OSError:
        return None  # unreadable: the validator records why, as for any sample
    return None if looks_like_image(head) else NOT_AN_IMAGE


def list_folder(tree: Tree) -> tuple[list[Candidate], list[Skipped]]:
    """One candidate per image file of ``tree`` (see the module docstring for the layout), and
    the files that are not images."""
    rels: list[str] = []
    skipped: list[Skipped] = []
    for rel in tree.files:
        reason = classify(tree, rel)
        if reason is None:
            rels.append(rel)
        else:
            skipped.append(Skipped(rel, reason))
    top_dirs = {rel.split("/", 1)[0] for rel in rels if "/" in rel}
    split_layout = bool(top_dirs) and all(is_split_name(d) for d in top_dirs)
    out: list[Candidate] = []
    for rel in rels:
        parts = rel.split("/")
        split = None
        if split_layout and len(parts) > 1:
            split, parts = parts[0], parts[1:]
        label = parts[0] if len(parts) > 1 else None
        out.append(Candidate(rel, tree.location(rel), None, "folder", label, split))
    return out, skipped
