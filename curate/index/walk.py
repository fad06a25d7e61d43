"""Every file under DATA, local or remote, and why each one that is not a sample was skipped.

:func:`walk` lists a local folder (following links, never looping) or a URL prefix
(``s3://bucket/prefix``: one listing call) the same way: the visible files a reader may take,
and the files it set aside as :class:`Skipped` with their reason. A reader then takes the files
of its format and skips the rest with a reason of its own, so the index can say, by extension
and reason, every file it did not treat as a sample (:func:`skipped_summary`); nothing vanishes
from the count.

``--include`` / ``--exclude`` (:class:`Selection`) narrow the walk: a pattern without ``/``
matches a file's name (``*.jpg``), one with ``/`` its whole path relative to DATA
(``raw/*``; ``*`` crosses folders). A file must match an include pattern when there are any,
and no exclude pattern.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from curate.index.remote import is_url, join_url, list_tree, url_info, url_stat

HIDDEN = "hidden"
EXCLUDED = "excluded by --include/--exclude"
NOT_AN_IMAGE = "not an image"
UNSUPPORTED = "unsupported image format"

#: example paths kept per (extension, reason) group in the summary
SKIPPED_EXAMPLES = 3

FileStat = dict[str, int]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file (or container member) the index did not treat as a sample, and why."""

    path: str
    reason: str

    @property
    def extension(self) -> str:
        suffix = posixpath.splitext(posixpath.basename(self.path))[1].lower()
        return suffix or "(none)"


def _matches(pattern: str, rel: str) -> bool:
    return fnmatchcase(rel, pattern) if "/" in pattern else fnmatchcase(posixpath.basename(rel), pattern)


@dataclass(frozen=True)
class Selection:
    """The ``--include`` / ``--exclude`` glob patterns (see the module docstring)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def selects(self, rel: str) -> bool:
        """Whether the file at ``rel`` (POSIX, relative to DATA) is kept."""
        if self.include and not any(_matches(p, rel) for p in self.include):
            return False
        return not any(_matches(p, rel) for p in self.exclude)

    def as_params(self) -> dict[str, list[str]]:
        """The patterns as index parameters (they decide which samples exist)."""
        return {"include": list(self.include), "exclude": list(self.exclude)}


@dataclass
class Tree:
    """What :func:`walk` found under DATA.

    root:    DATA's folder as an absolute local path or a URL prefix (DATA's parent when DATA is
             one file)
    files:   visible, selected files, as POSIX paths relative to ``root``, sorted
    skipped: hidden and deselected files
    single:  DATA is one file (``files`` is its name)
    stats:   ``file_stat`` of remote files by location, from the listing (local files are
             stat'ed by the index itself)
    """

    root: str
    files: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    single: bool = False
    stats: dict[str, FileStat | None] = field(default_factory=dict)
    remote: bool = field(init=False)

    def __post_init__(self) -> None:
        self.remote = is_url(self.root)

    def location(self, rel: str) -> str:
        """Where the file ``rel`` is: an absolute local path or a URL."""
        return join_url(self.root, rel) if self.remote else os.path.join(self.root, rel)


#: no patterns: every file is selected
EVERYTHING = Selection()


def _hidden(rel: str) -> bool:
    return rel.startswith(".") or "/." in rel


def _local_files(root: str) -> list[str]:
    """Relative POSIX paths of every file under ``root``, hidden ones included, sorted;
    follows links, never loops."""
    found: list[str] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:  # a symlink back up the tree
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            found.append(rel.replace(os.sep, "/"))
    found.sort()
    return found


def _split(rels: Iterable[str], selection: Selection) -> tuple[list[str], list[Skipped]]:
    files: list[str] = []
    skipped: list[Skipped] = []
    narrowed = bool(selection.include or selection.exclude)
    for rel in rels:
        if _hidden(rel):
            skipped.append(Skipped(rel, HIDDEN))
        elif narrowed and not selection.selects(rel):
            skipped.append(Skipped(rel, EXCLUDED))
        else:
            files.append(rel)
    return files, skipped


def walk(data: str, selection: Selection = EVERYTHING) -> Tree:
    """List DATA: a local folder or file, or a URL prefix or object. ``data`` must exist
    (:func:`exists`); a single file is its own listing, whatever the selection."""
    if is_url(data):
        info = url_info(data)
        if info is not None and info.get("type", "file") == "file":
            parent, _, name = data.rstrip("/").rpartition("/")
            return Tree(parent, [name], single=True, stats={data: url_stat(info)})
        infos = dict(list_tree(data))
        files, skipped = _split(infos, selection)
        root = data.rstrip("/")
        return Tree(root, files, skipped, stats={join_url(root, rel): url_stat(infos[rel]) for rel in files})
    path = os.path.abspath(data)
    if os.path.isfile(path):
        return Tree(os.path.dirname(path), [os.path.basename(path)], single=True)
    files, skipped = _split(_local_files(path), selection)
    return Tree(path, files, skipped)


def exists(data: str) -> bool:
    """Whether DATA (a local path, or a URL to an object or a non-empty prefix) is there."""
    if not is_url(data):
        return os.path.exists(data)
    return url_info(data) is not None


def skipped_summary(skipped: Sequence[Skipped]) -> list[dict[str, Any]]:
    """Skipped files grouped by extension and reason, largest group first:
    ``[{extension, reason, count, examples}]`` (up to :data:`SKIPPED_EXAMPLES` paths each)."""
    counts = Counter((s.extension, s.reason) for s in skipped)
    examples: dict[tuple[str, str], list[str]] = {}
    for s in skipped:
        kept = examples.setdefault((s.extension, s.reason), [])
        if len(kept) < SKIPPED_EXAMPLES:
            kept.append(s.path)
    return [
        {"extension": ext, "reason": reason, "count": n, "examples": examples[(ext, reason)]}
        for (ext, reason), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def describe_skipped(groups: Sequence[dict[str, Any]], *, limit: int = 4) -> str:
    """``5 files skipped: 3 .svg (unsupported image format), 2 .txt (not an image)``; empty
    when nothing was skipped."""
    total = sum(g["count"] for g in groups)
    if not total:
        return ""
    parts = [f"{g['count']} {g['extension']} ({g['reason']})" for g in groups[:limit]]
    if len(groups) > limit:
        parts.append(f"{sum(g['count'] for g in groups[limit:])} more")
    return f"{total} file{'s' if total != 1 else ''} skipped: " + ", ".join(parts)
