"""Property: the report renders for any shape of workspace, and the page says what the tables hold.

Hypothesis draws the data (size, classes with odd names or no labels at all, flipped labels,
outliers, duplicate groups of any size up to everything in one group); the workspace is built
with ``build_array_workspace``: ``import_arrays`` plus tables in the schemas of curate.schemas.
"""

from __future__ import annotations

import html
import importlib.resources
import re
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from curate.report.collect import MAX_GROUP_MEMBERS
from curate.report.stage import run_report
from tests.fixtures.report_ws import XSS_CLASS, build_array_workspace

#: names a page must show exactly as written: markup, quotes, slashes, blanks, math-text, non-ASCII
ODD_NAMES = [
    "<script>alert(1)</script>",
    XSS_CLASS,
    "</td><td>",
    'say "hi"',
    "it's",
    "a/b\\c",
    " ",
    "  padded  ",
    "&amp;",
    "$x_1$",
    "_hidden",
    "über café",
    "猫",
    "🐱 cat",
]

#: a class name; never "" (import_arrays reads an empty label as unlabelled)
class_name = st.one_of(st.sampled_from(ODD_NAMES), st.text(st.characters(codec="utf-8"), min_size=1, max_size=10))

#: start tags the page template itself writes; any other in the page came from data
TEMPLATE_TAGS = frozenset(
    re.findall(
        r"<([a-z][a-z0-9]*)",
        importlib.resources.files("curate.report").joinpath("templates/report.html.j2").read_text(),
    )
)


@dataclass
class DrawnDataset:
    """What a workspace is built from; arguments of ``build_array_workspace``."""

    embeddings: np.ndarray
    class_names: list[str]
    given: list[str | None] | None
    true: list[str | None] | None
    duplicate_group: np.ndarray
    is_outlier: np.ndarray
    max_thumbnails: int

    def groups(self) -> dict[str, tuple[str, list[str]]]:
        """group id -> (keeper's sample id, every member's sample id), as the tables name them."""
        out: dict[str, tuple[str, list[str]]] = {}
        for keeper in np.unique(self.duplicate_group[self.duplicate_group >= 0]):
            members = np.flatnonzero(self.duplicate_group == keeper)
            out[f"g{keeper}"] = (str(keeper), [str(i) for i in members])
        return out


@st.composite
def datasets(draw: st.DrawFn) -> DrawnDataset:
    """1 to 30 samples: labelled (1-4 classes, some rows unlabelled, some flipped) or not at all,
    up to three duplicate groups (or one of every row), outliers, a thumbnail cap."""
    n = draw(st.integers(1, 30))
    names: list[str] = []
    given_labels = true_labels = None
    if draw(st.booleans()):
        names = draw(st.lists(class_name, min_size=1, max_size=4, unique=True))
        given_labels = draw(st.lists(st.sampled_from([*names, None]), min_size=n, max_size=n))
        flipped = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        # a flip moves a label to the next class (with one class, nowhere)
        true_labels = [
            names[(names.index(g) + 1) % len(names)] if g is not None and f else g
            for g, f in zip(given_labels, flipped)
        ]

    # rows sharing a slot form a group (a slot of one row is no group); everything in one group
    # is drawn on its own because random slots rarely give it
    slots = np.array(draw(st.one_of(st.just([0] * n), st.lists(st.integers(-1, 2), min_size=n, max_size=n))))
    group = np.full(n, -1, dtype=np.int64)
    for slot in range(3):
        members = np.flatnonzero(slots == slot)
        if members.size >= 2:
            # any member may be the keeper: row order and display order (keeper first) differ
            group[members] = members[draw(st.integers(0, members.size - 1))]

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    emb = rng.normal(size=(n, 8)).astype(np.float32)
    emb[group >= 0] = emb[group[group >= 0]]  # copies are exact copies of their keeper
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return DrawnDataset(
        embeddings=emb,
        class_names=names,
        given=given_labels,
        true=true_labels,
        duplicate_group=group,
        is_outlier=np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))),
        max_thumbnails=draw(st.sampled_from([0, 3, 48])),
    )


class _Markup(HTMLParser):
    """Start tags and event-handler attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.scripts += tag == "script"
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def _section(page: str, section: str) -> str:
    """The HTML of one ``<section id=...>`` of the page."""
    return page.split(f'id="{section}"')[1].split("</section>")[0]


# Each example builds and renders a workspace (~0.1-0.3 s): 60 of them take about 10 s on two
# cores. Hypothesis's explain phase re-runs a failing case hundreds of times (minutes here), and
# the shrunk example it prints is what one debugs from anyway.
@settings(max_examples=60, deadline=None, phases=[p for p in Phase if p is not Phase.explain])
@given(datasets())
@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # drawn names use all of Unicode
def test_report_renders_any_workspace(data: DrawnDataset):
    n = len(data.embeddings)
    with tempfile.TemporaryDirectory() as tmp:
        ws = build_array_workspace(
            Path(tmp) / "ws",
            data.embeddings,
            data.given,
            class_names=data.class_names,
            true=data.true,
            duplicate_group=data.duplicate_group,
            is_outlier=data.is_outlier,
        )
        issues = ws.read_table("issues")
        summary = run_report(ws, max_thumbnails=data.max_thumbnails)
        page = Path(summary["report"]).read_bytes().decode("utf-8")  # as written: a "\r" in a name stays

    assert summary["sections"] == {
        "labels": True,
        "duplicates": True,
        "outliers": True,
        "negatives": True,
        "embedding_map": n >= 3,
        "review": True,
    }
    assert f"<b>{n:,}</b>samples" in page

    # class names are text, never markup
    markup = _Markup()
    markup.feed(page)
    # the page's own review script, and no other: a drawn name never adds one
    assert markup.tags <= TEMPLATE_TAGS and markup.scripts == 1
    assert markup.handlers == []
    if data.class_names:
        rows = re.findall(r'<tr><td>(.*?)</td><td class="r">', _section(page, "classes"), re.S)
        assert sorted(html.unescape(r) for r in rows) == sorted(data.class_names)
    else:
        assert "this dataset has no labels" in page

    labels = _section(page, "labels")
    flagged = sum(issues.column("is_label_issue").to_pylist())
    assert f"{flagged:,} samples look mislabelled" in labels
    assert labels.count('<div class="id">') == min(flagged, data.max_thumbnails)
    outliers = sum(issues.column("is_outlier").to_pylist())
    assert f"{outliers:,} samples are far from everything else" in _section(page, "outliers")

    # every group is counted; each one shown has its size, its keeper first and then the lowest ids
    groups = data.groups()
    redundant = sum(len(members) - 1 for _, members in groups.values())
    dups = _section(page, "duplicates")
    assert f"{len(groups):,} groups of exact or near duplicates; {redundant:,} redundant copies." in dups
    shown = re.split(r'<div class="group(?: leak)?">', dups)[1:]
    assert len(shown) <= len(groups)
    if data.max_thumbnails >= n:  # room for every member of every group
        assert len(shown) == len(groups)
    if data.max_thumbnails == 0:
        assert shown == []
    for block in shown:
        size, showing, gid = re.search(r"(\d+) copies(?: \(showing (\d+)\))? · group (g\d+)", block).groups()
        keeper, members = groups[gid]
        expected = [keeper] + sorted(m for m in members if m != keeper)[: MAX_GROUP_MEMBERS - 1]
        assert int(size) == len(members)
        assert int(showing or size) == len(expected)
        assert re.findall(r'<div class="id">([^<]*)</div>', block) == expected
        assert block.count('<span class="badge">keep</span>') == 1
