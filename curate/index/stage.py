"""The index stage: list every sample of DATA, decode each once, write ``samples.parquet``.

Readers (one module each) turn DATA into :class:`~curate.index.candidates.Candidate` rows;
:mod:`curate.index.validate` reads and decodes them in parallel; this module picks the reader,
assembles the table (sorted by ``sample_id``) and writes it with a fingerprint over the options
and the content (:meth:`Workspace.plan`'s ``data``), so re-indexing unchanged data is a no-op and
grown or changed data is re-indexed, which the stages after it then recompute from.

Re-indexing is incremental: a file whose path and size, mtime and ctime (``file_stat``) are what
the previous samples.parquet recorded keeps its row without being decoded; only new, changed
(re-stat'ed) files are decoded, and removed ones drop out.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate import progress
from curate.errors import DamagedArtifactError, DataError, UsageError
from curate.index.candidates import Candidate, check_unique, is_image_name, sorted_class_names
from curate.index.captions import DEFAULT_CAPTION_COLUMN
from curate.index.folder import list_folder
from curate.index.manifest import MANIFEST_SUFFIXES, list_manifest, manifest_candidates, stdin_columns
from curate.index.parquet import has_image_column, is_parquet_name, iter_image_bytes, list_parquet
from curate.index.remote import is_url, redact, url_stats
from curate.index.tags import TagReading, assign_tags, tag_names
from curate.index.validate import Inspection, Task, inspect_all
from curate.index.walk import Selection, Skipped, Tree, describe_skipped, exists, skipped_summary, walk
from curate.index.webdataset import TAR_SUFFIXES, is_shard_name, list_webdataset
from curate.schemas import SAMPLES
from curate.stages import STAGES
from curate.timing import timed
from curate.workspace import Workspace, same_params, write_parquet_atomic

FORMATS = ("folder", "manifest", "parquet", "webdataset")

#: DATA that means "read the list of images from standard input"
STDIN = "-"

#: column name -> position in a samples row (:data:`SAMPLES` order)
_COL = {name: i for i, name in enumerate(SAMPLES.names)}

#: each column option's default (``run_index`` takes None for "not given")
COLUMN_DEFAULTS = {
    "path_column": "path",
    "label_column": "label",
    "split_column": "split",
    "image_column": "image",
    "caption_column": DEFAULT_CAPTION_COLUMN,
}

#: the options that shape each format's rows; giving another is refused (it would be ignored)
_FORMAT_OPTIONS = {
    "folder": (),
    "manifest": ("path_column", "label_column", "split_column", "caption_column"),
    "parquet": ("image_column", "label_column", "split_column", "caption_column"),
    "webdataset": ("label_column", "caption_column"),
}

#: options recorded in the index's parameters only when they are not their default, so an index
#: written before the option existed stays valid
_RECORDED_WHEN_GIVEN = ("caption_column",)

FileStat = dict[str, int]


@dataclass
class Listing:
    """What a reader found in DATA: the format, one candidate per sample, the image bytes in
    candidate order when the reader streams them, what it skipped, and ``file_stat`` of remote
    files known from the listing (by location)."""

    format: str
    candidates: list[Candidate]
    payloads: Iterator[bytes | None] | None = None
    skipped: list[Skipped] = field(default_factory=list)
    stats: dict[str, FileStat | None] = field(default_factory=dict)


def _name(location: str) -> str:
    return location.split("?", 1)[0].rstrip("/").rpartition("/")[2]


def _file_format(location: str, image_column: str) -> str:
    name = _name(location)
    suffix = os.path.splitext(name)[1].lower()
    if suffix in TAR_SUFFIXES:
        return "webdataset"
    if suffix == ".parquet":
        return "parquet" if has_image_column(location, image_column) else "manifest"
    if suffix in MANIFEST_SUFFIXES:
        return "manifest"
    if is_image_name(name):
        raise UsageError(f"{location} is a single image; give the folder that holds the dataset")
    raise UsageError(
        f"cannot tell what {location} is; DATA is an image folder, a manifest "
        f"({', '.join(sorted(MANIFEST_SUFFIXES))}), Parquet with images, or WebDataset .tar shards"
    )


def _folder_format(tree: Tree) -> str:
    """The format of a folder (or URL prefix) by the files in it: images first, as before."""
    if any(is_image_name(rel) for rel in tree.files):
        return "folder"
    if any(is_shard_name(rel) for rel in tree.files):
        return "webdataset"
    if any(is_parquet_name(rel) for rel in tree.files):
        return "parquet"
    return "folder"


def _list_stdin(fmt: str, selection: Selection, **columns: str) -> Listing:
    if fmt not in ("auto", "manifest"):
        raise UsageError(f"standard input is a list of images (a manifest); --format {fmt} does not apply")
    kind, table = stdin_columns(sys.stdin.read(), **columns)
    progress.log(f"index: standard input read as {'one path per line' if kind == 'paths' else kind}")
    candidates, skipped = manifest_candidates(table, os.getcwd(), "standard input", selection=selection, **columns)
    return Listing("manifest", candidates, skipped=skipped)


def _list(
    data: str,
    fmt: str,
    *,
    selection: Selection,
    path_column: str,
    label_column: str,
    split_column: str,
    image_column: str,
    caption_column: str,
) -> Listing:
    """Pick the reader for DATA (``fmt`` or auto-detected) and list its samples."""
    if data == STDIN:
        return _list_stdin(
            fmt,
            selection,
            path_column=path_column,
            label_column=label_column,
            split_column=split_column,
            caption_column=caption_column,
        )
    tree = walk(data, selection)
    location = tree.location(tree.files[0]) if tree.single else data
    if fmt == "auto":
        fmt = _file_format(location, image_column) if tree.single else _folder_format(tree)
    if fmt == "folder":
        if tree.single:
            raise UsageError(f"--format folder needs a folder, and {data} is a file")
        candidates, skipped = list_folder(tree)
        return Listing(fmt, candidates, None, tree.skipped + skipped, tree.stats)
    if fmt == "manifest":
        if not tree.single:
            raise UsageError(f"--format manifest needs a manifest file, and {data} is a folder")
        candidates, skipped = list_manifest(
            location,
            path_column=path_column,
            label_column=label_column,
            split_column=split_column,
            caption_column=caption_column,
            selection=selection,
        )
        return Listing(fmt, candidates, None, skipped)
    if fmt == "parquet":
        candidates, files, skipped = list_parquet(
            tree,
            image_column=image_column,
            label_column=label_column,
            split_column=split_column,
            caption_column=caption_column,
        )
        return Listing(fmt, candidates, iter_image_bytes(files, image_column), tree.skipped + skipped, tree.stats)
    if fmt == "webdataset":
        candidates, skipped = list_webdataset(tree, label_column=label_column, caption_column=caption_column)
        return Listing(fmt, candidates, None, tree.skipped + skipped, tree.stats)
    raise UsageError(f"unknown format {fmt!r}; choose auto, {', '.join(FORMATS)}")


def _tasks(candidates: list[Candidate], payloads: Iterator[bytes | None] | None, skip: set[int]) -> Iterator[Task]:
    """A decoding task per candidate whose position is not in ``skip``, in candidate order."""
    for i, c in enumerate(candidates):
        data = None if payloads is None else next(payloads)  # streamed bytes are consumed in order
        if i in skip:
            continue
        if payloads is None:
            yield Task(c.path, c.member, c.source, None, c.error)
            continue
        yield Task(c.path, c.member, c.source, data, c.error or (None if data else "no image bytes in this row"))


def _stat_files(candidates: list[Candidate], known: dict[str, FileStat | None]) -> dict[str, FileStat | None]:
    """Size, mtime and ctime of every listed file (an image's, or its container's), by path;
    ``known`` (a remote listing's) first; a URL the listing did not describe (a manifest's cell)
    is asked for its size, time and version (:func:`curate.index.remote.url_stats`, concurrent
    HEADs); None for a file that cannot be stat'ed (it is decoded, and fails with its reason)."""
    stats: dict[str, FileStat | None] = dict(known)
    urls = sorted({c.path for c in candidates if c.path not in stats and is_url(c.path)})
    if urls:
        progress.log(f"index: checking {len(urls)} URLs for changes")
        stats.update(url_stats(urls))
    for c in candidates:
        if c.path not in stats:
            try:
                st = Path(c.path).stat()
            except OSError:
                stats[c.path] = None
            else:
                stats[c.path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}
    return stats


def _previous_rows(ws: Workspace, settings: dict[str, Any]) -> dict[str, tuple]:
    """sample_id -> row of the samples.parquet already in ``ws`` when it was indexed with these
    ``settings`` (same format, DATA and columns); ``{}`` when there is none to reuse."""
    if not ws.exists("samples"):
        return {}
    try:
        if not same_params(ws.record("samples").get("params"), settings):
            return {}
        table = ws.read_table("samples")
    except DamagedArtifactError:
        return {}  # the decoding path rebuilds it
    if not table.schema.equals(SAMPLES):
        return {}  # written by another curate: decode everything
    rows = zip(*(table.column(name).to_pylist() for name in SAMPLES.names))
    return {row[0]: row for row in rows}


def _reusable(c: Candidate, previous: tuple | None, stat: FileStat | None) -> bool:
    """Whether ``previous`` (a samples row) still describes candidate ``c`` without decoding it:
    the same file, not written, touched or replaced since (its stat is unchanged)."""
    if previous is None or stat is None or c.error is not None:
        return False
    return (
        previous[_COL["path"]],
        previous[_COL["member"]],
        previous[_COL["source"]],
        previous[_COL["file_stat"]],
    ) == (
        c.path,
        c.member,
        c.source,
        stat,
    )


def _content_digest(rows: list[tuple], skipped: list[dict[str, Any]]) -> str:
    """A digest of the rows as the stages after index see them (everything but ``file_stat``),
    and of what was skipped (summary.json and the report say it)."""
    h = hashlib.blake2b(digest_size=16)
    for row in rows:
        h.update(json.dumps(row[: _COL["file_stat"]]).encode())
        if row[_COL["labels"]] is not None:  # multi-label tags; absent from single-label digests as before
            h.update(json.dumps(row[_COL["labels"]]).encode())
        h.update(b"\n")
    if skipped:  # no skipped files: the digest of an index written before they were counted
        h.update(json.dumps(skipped).encode())
    return h.hexdigest()


def _data_key(data: str) -> str:
    """DATA as recorded in the index's parameters: a URL as given (without a query string), stdin
    as ``-``, a local path resolved."""
    if data == STDIN:
        return STDIN
    if is_url(data):
        return redact(data).removesuffix("?...").rstrip("/")
    return str(Path(data).resolve())


@timed("index", replaces=("import",))
def run_index(
    data: str | Path,
    ws: Workspace,
    *,
    format: str = "auto",
    path_column: str | None = None,
    label_column: str | None = None,
    split_column: str | None = None,
    image_column: str | None = None,
    caption_column: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    label_separator: str | None = None,
    multi_label: bool | None = None,
    workers: int | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Index DATA into ``ws/samples.parquet`` (schema :data:`curate.schemas.SAMPLES`).

    DATA is an ImageFolder (``DATA/<class>/<img>``, optionally under split folders), a
    manifest (CSV/TSV/JSONL/JSON/Parquet with ``path_column``), Parquet files with image bytes
    in ``image_column``, or WebDataset ``.tar`` shards; ``format="auto"`` tells them apart.
    DATA may be a local path or any fsspec URL (``s3://bucket/prefix``, ``gs://...``,
    ``https://host/shard.tar``; :mod:`curate.index.remote`), whose samples are then read where
    they are; ``"-"`` reads a manifest or a list of paths from standard input
    (:func:`curate.index.manifest.stdin_columns`). The workspace is always local.
    A column option left None takes its default (:data:`COLUMN_DEFAULTS`); one given for a
    format that does not read it (``path_column`` for an image folder) is a :class:`UsageError`,
    not silently ignored. ``caption_column``: the column (a WebDataset ``.json`` field, after
    the ``.txt`` member) holding each image's caption, for image-text pairs
    (:mod:`curate.index.captions`); samples.parquet's ``caption``. ``include`` / ``exclude``: glob patterns narrowing the files (or a
    manifest's paths) that are indexed (:class:`curate.index.walk.Selection`).
    Every sample is read and decoded once, on ``workers`` processes (default: CPU count, at
    most 8; 0 = in this process): unreadable ones are recorded with a reason, never fatal.
    Every file under DATA that is not a sample is counted by extension and reason (hidden,
    excluded, not an image, an unsupported image format, not of the format) in ``skipped``.
    The class list (sorted unique labels) goes to the table's metadata ``extra.class_names``,
    the skipped files to ``extra.skipped_files``.

    Multi-label data (:mod:`curate.index.tags`): a label column of lists or JSON lists, or of
    strings split on ``label_separator`` (detected when most labels contain one common
    separator, unless ``multi_label`` is False), or any labels with ``multi_label=True``. Each
    row's tags go to samples.parquet's ``labels`` (``label`` null), the sorted tags to
    ``extra.class_names`` and ``extra.multi_label`` is true. An image folder is single-label.

    Re-indexing the same content with the same options leaves the file alone
    (``up_to_date``); grown or changed content is re-indexed, decoding only the files whose stat
    changed (:func:`_reusable`); other options (format, DATA, columns, patterns) raise
    :class:`StaleWorkspaceError` unless ``overwrite``. Returns a JSON-serialisable summary:
    ``format``, ``num_samples``, ``num_readable``, ``num_unreadable``, ``num_unlabelled``,
    ``num_captioned``, ``num_classes``, ``splits`` ({split: count}), ``unreadable`` ([{sample_id, path, reason}]),
    ``num_skipped_files`` and ``skipped_files`` ([{extension, reason, count, examples}]), what changed
    since the last index (``added``, ``removed``, ``changed``, ``reused``, ``decoded``:
    :func:`_changes`), ``up_to_date``, ``samples``.
    """
    data = os.fspath(data)
    if data != STDIN and not exists(data):
        raise UsageError(f"data path {redact(data)} does not exist")
    if ws.root.exists() and not ws.root.is_dir():
        raise UsageError(f"workspace {ws.root} is a file, not a folder")
    if workers is not None and workers < 0:
        raise UsageError(f"workers must be 0 or more, got {workers}")
    if format != "auto" and format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; choose auto, {', '.join(FORMATS)}")
    given = {
        "path_column": path_column,
        "label_column": label_column,
        "split_column": split_column,
        "image_column": image_column,
        "caption_column": caption_column,
    }
    options = {name: COLUMN_DEFAULTS[name] if value is None else value for name, value in given.items()}
    if isinstance(include, str) or isinstance(exclude, str):
        raise UsageError("include and exclude are lists of glob patterns, not one string")
    selection = Selection(tuple(include), tuple(exclude))
    listing = _list(data, format, selection=selection, **options)
    fmt, candidates = listing.format, listing.candidates
    ignored = [name for name, value in given.items() if value is not None and name not in _FORMAT_OPTIONS[fmt]]
    if ignored:
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        used = ", ".join("--" + name.replace("_", "-") for name in _FORMAT_OPTIONS[fmt]) or "none of them"
        verb = "does" if len(ignored) == 1 else "do"
        raise UsageError(
            f"{flags} {verb} not apply to {fmt} data ({data}); the column options {fmt} data reads: {used}"
        )
    if fmt == "folder" and (label_separator is not None or multi_label):
        raise UsageError(
            "an image folder's labels are its folder names, one class each; multi-label data is a manifest"
        )
    tag_reading = TagReading(False)
    if fmt != "folder":
        candidates, tag_reading = assign_tags(
            candidates,
            separator=label_separator,
            multi_label=multi_label,
            where="standard input" if data == STDIN else redact(data),
        )
    skipped = skipped_summary(listing.skipped)
    if not candidates:
        raise DataError(
            f"no images found in {redact(data) if data != STDIN else 'standard input'}" + _skipped_note(skipped)
        )
    check_unique(candidates, "standard input" if data == STDIN else redact(data))
    settings: dict[str, Any] = {
        "format": fmt,
        "data": _data_key(data),
        **{
            k: options[k]
            for k in _FORMAT_OPTIONS[fmt]
            if k not in _RECORDED_WHEN_GIVEN or options[k] != COLUMN_DEFAULTS[k]
        },
    }
    if include or exclude:  # absent otherwise, so indexes written before the options stay valid
        settings.update(selection.as_params())
    # likewise recorded only when given
    if label_separator is not None:
        settings["label_separator"] = label_separator
    if multi_label is not None:
        settings["multi_label"] = multi_label
    stats = _stat_files(candidates, listing.stats)
    previous = _previous_rows(ws, settings)
    order = sorted(range(len(candidates)), key=lambda i: candidates[i].sample_id)
    reused = {i for i, c in enumerate(candidates) if _reusable(c, previous.get(c.sample_id), stats[c.path])}
    decode = [i for i in range(len(candidates)) if i not in reused]
    inspections: dict[int, Inspection] = {}
    if decode:
        where = "standard input" if data == STDIN else redact(data)
        progress.log(f"decoding {len(decode)} of {len(candidates)} {fmt} samples from {where}")
        found = inspect_all(_tasks(candidates, listing.payloads, reused), total=len(decode), workers=workers)
        inspections = dict(zip(decode, found))
    rows = [
        _reused_row(candidates[i], previous[candidates[i].sample_id])
        if i in reused
        else _row(candidates[i], inspections[i], stats[candidates[i].path])
        for i in order
    ]
    if tag_reading.multi_label:
        class_names = tag_names(c.tags for c in candidates)
    else:
        class_names = sorted_class_names(c.label for c in candidates)
    content = _content_digest(rows, skipped)
    changes = _changes(rows, previous, len(reused))
    with ws.lock(create=True):  # the data is read and checked first: a bad DATA leaves no workspace
        fp, _, up_to_date = ws.plan(
            "samples", "index", settings, STAGES["index"].inputs, data=content, overwrite=overwrite
        )
        if up_to_date and not decode:
            progress.log(f"index: up to date ({len(candidates)} {fmt} samples unchanged since indexed; not decoded)")
        else:
            # written even when up to date (same content, files touched): it records the new stats,
            # so the next run skips decoding them
            columns = list(zip(*rows))
            table = pa.Table.from_arrays(
                [pa.array(columns[i], type=field.type) for i, field in enumerate(SAMPLES)], schema=SAMPLES
            )
            write_parquet_atomic(
                ws.path("samples"),
                table,
                fingerprint=fp,
                inputs={},
                params=settings,
                extra={
                    "class_names": class_names,
                    **({"multi_label": True, "tags": tag_reading.as_params()} if tag_reading.multi_label else {}),
                    "content": content,
                    "changes": changes,
                    "skipped_files": skipped,
                },
            )
    summary = _summary(fmt, rows, class_names, up_to_date, ws, changes, skipped)
    summary["multi_label"] = tag_reading.multi_label
    if tag_reading.multi_label:
        summary["label_separator"] = tag_reading.separator
        summary["separator_detected"] = tag_reading.detected
    return summary


def _skipped_note(skipped: list[dict[str, Any]]) -> str:
    text = describe_skipped(skipped)
    return f" ({text})" if text else ""


def _changes(rows: list[tuple], previous: dict[str, tuple], reused: int) -> dict[str, int]:
    """What re-indexing found against the previous samples.parquet (every row is ``added`` on a
    first index): ``added``, ``removed``, ``changed`` (another content, label or split),
    ``reused`` (not decoded: its file's stat is unchanged) and ``decoded``."""
    current = {row[0] for row in rows}
    return {
        "added": sum(row[0] not in previous for row in rows),
        "removed": sum(sid not in current for sid in previous),
        "changed": sum(row[0] in previous and _seen(previous[row[0]]) != _seen(row) for row in rows),
        "reused": reused,
        "decoded": len(rows) - reused,
    }


def _seen(row: tuple) -> tuple:
    """What the stages after index see of a samples row: everything but ``file_stat``."""
    return (*row[: _COL["file_stat"]], *row[_COL["file_stat"] + 1 :])


def _reused_row(c: Candidate, previous: tuple) -> tuple:
    """A row of the previous samples.parquet for an undecoded file, with the candidate's label,
    split and caption (a manifest may relabel or recaption a file without touching it)."""
    kept = previous[_COL["size_bytes"] : _COL["labels"]]
    return (c.sample_id, c.path, c.member, c.source, c.label, c.split, c.caption, *kept, _tags(c))


def _tags(c: Candidate) -> list[str] | None:
    return None if c.tags is None else list(c.tags)


def _row(c: Candidate, ins: Inspection, stat: FileStat | None) -> tuple:
    """One samples.parquet row, in :data:`SAMPLES` column order."""
    return (
        c.sample_id,
        c.path,
        c.member,
        c.source,
        c.label,
        c.split,
        c.caption,
        ins.size_bytes,
        ins.width,
        ins.height,
        ins.hash,
        ins.error is None,
        ins.error,
        ins.stats,
        stat,
        _tags(c),
    )


def _summary(
    fmt: str,
    rows: list[tuple],
    class_names: list[str],
    up_to_date: bool,
    ws: Workspace,
    changes: dict[str, int],
    skipped: list[dict[str, Any]],
) -> dict[str, Any]:
    col = _COL
    unreadable = [
        {"sample_id": r[col["sample_id"]], "path": r[col["path"]], "reason": r[col["error"]]}
        for r in rows
        if not r[col["readable"]]
    ]
    splits = Counter(r[col["split"]] for r in rows if r[col["split"]] is not None)
    return {
        "format": fmt,
        "num_samples": len(rows),
        "num_readable": len(rows) - len(unreadable),
        "num_unreadable": len(unreadable),
        "num_unlabelled": sum(r[col["label"]] is None and not r[col["labels"]] for r in rows),
        "num_captioned": sum(r[col["caption"]] is not None for r in rows),
        "num_classes": len(class_names),
        "splits": dict(sorted(splits.items())),
        "unreadable": unreadable,
        "num_skipped_files": sum(g["count"] for g in skipped),
        "skipped_files": skipped,
        **changes,
        "up_to_date": up_to_date,
        "samples": str(ws.path("samples")),
    }
