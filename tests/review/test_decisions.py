"""A decisions file is checked line by line against the workspace, and a recorded decision finds
its sample again by content."""

from __future__ import annotations

import pyarrow as pa
import pytest

from curate.errors import UsageError
from curate.review.decisions import (
    DecisionFileError,
    content_key,
    match_decisions,
    merge_decisions,
    read_decision_file,
    resolve_decisions,
)
from curate.schemas import DECISIONS

CLASSES = ["cat", "dog", "fox"]
SAMPLES = pa.table(
    {
        "sample_id": ["a.png", "b.png", "c.png", "d.png"],
        "label": ["cat", "dog", "cat", "fox"],
        "hash": ["h-a", "h-b", "h-c", "h-d"],
    }
)
# what the rules proposed: a relabel for a, a drop for b, nothing concrete for c, keep for d
PLAN = pa.table(
    {
        "sample_id": ["a.png", "b.png", "c.png", "d.png"],
        "suggested_action": ["relabel", "drop", None, "keep"],
        "suggested_label": ["dog", None, None, "fox"],
    }
)


def resolve(tmp_path, text, *, suffix=".csv", plan=PLAN):
    path = tmp_path / f"decisions{suffix}"
    path.write_text(text)
    return resolve_decisions(path, read_decision_file(path), SAMPLES, class_names=CLASSES, plan=plan).to_pylist()


def test_each_decision_resolves_to_an_action_and_a_label(tmp_path):
    rows = resolve(
        tmp_path,
        "sample_id,decision,label,note\n"
        "a.png,accept,,\n"
        "b.png,keep,,\n"
        'c.png,relabel,fox,"looks like a fox, really"\n'
        "d.png,drop,,blurry\n",
    )
    assert [(r["sample_id"], r["decision"], r["action"], r["label"], r["accepted"], r["note"]) for r in rows] == [
        ("a.png", "accept", "relabel", "dog", True, None),
        ("b.png", "keep", "keep", "dog", False, None),  # the plan suggested a drop: overruled
        ("c.png", "relabel", "relabel", "fox", False, "looks like a fox, really"),
        ("d.png", "drop", "drop", None, False, "blurry"),
    ]
    assert [r["hash"] for r in rows] == ["h-a", "h-b", "h-c", "h-d"]


def test_json_lines_and_a_renamed_file_found_by_its_hash(tmp_path):
    rows = resolve(
        tmp_path,
        '{"sample_id": "old-name.png", "decision": "relabel", "label": "dog", "hash": "h-c"}\n\n'
        '{"sample_id": "a.png", "decision": "relabel", "label": "dog"}\n',
        suffix=".jsonl",
    )
    assert [(r["sample_id"], r["action"], r["accepted"]) for r in rows] == [
        ("c.png", "relabel", False),
        ("a.png", "relabel", True),  # what curate suggested, so it counts as accepted
    ]


def test_every_problem_is_one_line_naming_file_and_line(tmp_path):
    with pytest.raises(DecisionFileError) as err:
        resolve(
            tmp_path,
            "sample_id,decision,label,note\n"
            "zzz.png,drop,,\n"  # 2: unknown sample
            "a.png,relabel,wolf,\n"  # 3: unknown class
            "b.png,maybe,,\n"  # 4: unknown decision
            "c.png,accept,,\n"  # 5: nothing to accept
            "d.png,relabel,,\n"  # 6: relabel without a label
            "a.png,drop,,\n"  # 7
            "a.png,keep,,\n"  # 8: conflicts with 7
            "b.png,keep,fox,\n",  # 9: keep that names another label
        )
    path = tmp_path / "decisions.csv"
    lines = str(err.value).splitlines()
    assert lines[0] == f"{path}: 7 problems; no decision was recorded"
    assert [line.split(": ", 1)[0] for line in lines[1:]] == [f"{path}:{n}" for n in (2, 3, 4, 5, 6, 8, 9)]
    assert "unknown sample_id 'zzz.png'" in lines[1]
    assert "unknown class 'wolf'" in lines[2] and "classes: cat, dog, fox" in lines[2]
    assert "unknown decision 'maybe'" in lines[3]
    assert "nothing to accept for c.png" in lines[4]
    assert "relabel of d.png needs a label" in lines[5]
    assert "conflicts with line 7 for a.png: drop vs keep" in lines[6]
    assert "keep of b.png says 'fox', but its given label is 'dog'; use relabel" in lines[7]


def test_accept_needs_a_plan_and_a_changed_image_is_reviewed_again(tmp_path):
    with pytest.raises(DecisionFileError, match=r"decisions.csv:2: accept needs the plan .* `curate propose`"):
        resolve(tmp_path, "sample_id,decision\na.png,accept\n", plan=None)
    with pytest.raises(DecisionFileError, match=r"a.png's content changed since it was reviewed"):
        resolve(tmp_path, "sample_id,decision,hash\na.png,drop,h-old\n")
    with pytest.raises(DecisionFileError, match=r"accept of a.png says 'fox', but curate now suggests relabel to dog"):
        resolve(tmp_path, "sample_id,decision,label\na.png,accept,fox\n")
    same_twice = resolve(tmp_path, "sample_id,decision\nd.png,drop\nd.png,drop\n")
    assert len(same_twice) == 1


@pytest.mark.parametrize(
    "name, text, error, match",
    [
        ("d.csv", "id,what\n1,drop\n", DecisionFileError, r"d.csv:1: missing columns sample_id, decision"),
        ("d.csv", "sample_id,decision\n", DecisionFileError, r"no decisions in the file"),
        ("d.jsonl", '{"sample_id": "a.png"}\n[1]\nnot json\n', DecisionFileError, r"d.jsonl:1: missing decision"),
        ("d.txt", "sample_id,decision\n", UsageError, r"must be CSV \(.csv\) or JSON Lines"),
    ],
)
def test_unreadable_files(tmp_path, name, text, error, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(error, match=match) as err:
        read_decision_file(tmp_path / name)
    if name == "d.jsonl":
        assert str(err.value).splitlines()[1:] == [
            f"{tmp_path / name}:1: missing decision",
            f"{tmp_path / name}:2: not a JSON object",
            f"{tmp_path / name}:3: not JSON (Expecting value)",
        ]
    with pytest.raises(UsageError, match="does not exist"):
        read_decision_file(tmp_path / "nope.csv")


def decisions(*rows):
    return pa.Table.from_pylist(
        [
            {"hash": h, "sample_id": sid, "decision": "drop", "action": "drop", "label": None, "accepted": False}
            for h, sid in rows
        ],
        schema=DECISIONS,
    )


def test_matching_by_content_survives_renames_and_never_copies_a_decision():
    ids = ["x/1.png", "x/renamed.png", "copy-a.png", "copy-b.png", "7"]
    hashes = ["h1", "h2", "hd", "hd", None]
    recorded = decisions(
        ("h1", "x/1.png"),  # same name, same content
        ("h2", "x/2.png"),  # renamed since
        ("hd", "copy-b.png"),  # one of two identical copies: only that one
        ("id:7", "7"),  # an array row: keyed by its id
        ("h9", "gone.png"),  # no longer in the data
    )
    row, missing = match_decisions(ids, hashes, recorded)
    assert row.tolist() == [0, 1, -1, 2, 3]
    assert [m["sample_id"] for m in missing] == ["gone.png"]
    assert content_key(None, "7") == "id:7" and content_key("h1", "x") == "h1"

    # both copies renamed: the one decision goes to one of them, in sample_id order
    row, missing = match_decisions(["p.png", "q.png"], ["hd", "hd"], decisions(("hd", "copy-b.png")))
    assert row.tolist() == [0, -1] and missing == []


def test_a_later_file_replaces_earlier_decisions_about_the_same_content():
    merged = merge_decisions(decisions(("h1", "a"), ("h2", "b")), decisions(("h2", "b2"), ("h0", "c")))
    assert merged.column("hash").to_pylist() == ["h0", "h1", "h2"]
    assert merged.column("sample_id").to_pylist() == ["c", "a", "b2"]


def test_a_binary_file_is_one_line(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"sample_id,decision\n\xff\xfe,drop\n")
    with pytest.raises(DecisionFileError, match=r"d.csv: not UTF-8 text"):
        read_decision_file(tmp_path / "d.csv")
