"""The review loop end to end: a person decides in report.html (headless Chromium, real clicks),
exports the file, `curate apply` turns it into the manifest, and a re-scan keeps the decisions.

The workspace is a real scan of real images (digits, the tiny test model); the page is the real
report it wrote, driven over the DevTools protocol (tests/report/chromium.py).
"""

from __future__ import annotations

import csv
import json
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from curate.cli import main
from tests.report.chromium import CHROMIUM, SKIP_REASON, DevToolsPage


def curate(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def scan(data, ws, model_dir):
    return curate("scan", data, "-o", ws, "--model", f"local-dir:{model_dir}", "--device", "cpu", "--json", "-q")


def rows_by_id(path, columns):
    table = pq.read_table(path, columns=["sample_id", *columns]).to_pylist()
    return {r["sample_id"]: r for r in table}


def tile(i: int, control: str) -> str:
    """A control of the i-th review tile of the label-issue section, as a JavaScript expression."""
    return f"document.querySelectorAll('#labels .rv')[{i}].querySelector('{control}')"


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_decisions_made_in_the_report_reach_the_manifest_and_survive_a_rescan(digits_folder, tiny_clip_dir, tmp_path):
    data, ws = tmp_path / "data", tmp_path / "ws"
    shutil.copytree(digits_folder.root, data)
    first = scan(data, ws, tiny_clip_dir)
    assert first["review"]["reviewed"] == 0 and first["review"]["proposals"] > 4
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    with DevToolsPage.launch(tmp_path / "profile") as page:
        page.allow_downloads(downloads)
        page.open((ws / "report.html").as_uri())
        tiles = page.evaluate("Array.from(document.querySelectorAll('#labels .rv')).map(r => ({...r.dataset}))")
        # four label-issue tiles whose suggestion is a relabel, and the positions they have on the page
        picked = [i for i, t in enumerate(tiles) if t["sa"] == "relabel"][:4]
        assert len(picked) == 4, tiles
        accepted, relabelled, dropped = picked[:2], picked[2], picked[3]

        for i in accepted:  # in bulk: select two tiles, then "accept selected"
            page.click(tile(i, ".rv-check"))
        page.click("document.querySelector('#labels .rv-bulk[data-decision=accept]')")
        other = next(
            c for c in digits_folder.class_names if c not in (tiles[relabelled]["given"], tiles[relabelled]["sl"])
        )
        page.type_into(tile(relabelled, ".rv-label"), other)
        page.type_into(tile(relabelled, ".rv-note"), "looks like " + other)
        page.click(tile(relabelled, ".rv-do[data-decision=relabel]"))
        page.click(tile(dropped, ".rv-do[data-decision=drop]"))
        assert page.evaluate("document.getElementById('rv-count').textContent") == "4 decisions"
        assert page.evaluate(f"{tile(dropped, '.rv-state')}.textContent") == "→ drop"

        # a reload (or a closed tab) keeps the decisions, note and relabel target included
        page.open((ws / "report.html").as_uri())
        assert page.evaluate("document.getElementById('rv-count').textContent") == "4 decisions"
        assert page.evaluate(f"{tile(dropped, '.rv-state')}.textContent") == "→ drop"
        assert page.evaluate(f"{tile(relabelled, '.rv-note')}.value") == "looks like " + other
        assert page.evaluate(f"{tile(relabelled, '.rv-label')}.value") == other
        assert page.evaluate(f"{tile(relabelled, '.rv-state')}.textContent") == "→ relabel " + other

        page.click("document.getElementById('rv-export-csv')")
        name = page.wait_for_download()

        # "clear" forgets them in the browser too
        page.click("document.getElementById('rv-clear')")
        page.open((ws / "report.html").as_uri())
        assert page.evaluate("document.getElementById('rv-count').textContent") == "0 decisions"

    exported = downloads / name
    assert name == "decisions.csv"
    with open(exported, newline="") as f:
        rows = {r["sample_id"]: r for r in csv.DictReader(f)}
    sid = [tiles[i]["sid"] for i in picked]
    assert {k: (r["decision"], r["label"]) for k, r in rows.items()} == {
        sid[0]: ("accept", tiles[accepted[0]]["sl"]),
        sid[1]: ("accept", tiles[accepted[1]]["sl"]),
        sid[2]: ("relabel", other),
        sid[3]: ("drop", ""),
    }
    assert all(r["hash"] == tiles[i]["hash"] for r, i in zip((rows[s] for s in sid), picked))

    applied = curate("apply", ws, exported, "--json")
    assert (applied["recorded"], applied["accepted"], applied["overruled"]) == (4, 2, 2)
    assert [s["stage"] for s in applied["steps"]] == ["propose", "export", "report"]

    def check_manifest(ids):
        m = rows_by_id(ws / "manifest.parquet", ["label", "action", "weight", "reasons"])
        for k in (0, 1):
            assert (m[ids[k]]["action"], m[ids[k]]["label"]) == ("relabel", tiles[accepted[k]]["sl"])
            assert f"reviewed: accept (relabel to {tiles[accepted[k]]['sl']})" in m[ids[k]]["reasons"]
        assert (m[ids[2]]["action"], m[ids[2]]["label"]) == ("relabel", other)
        assert f"reviewed: relabel to {other} — looks like {other}" in m[ids[2]]["reasons"]
        assert (m[ids[3]]["action"], m[ids[3]]["weight"]) == ("drop", 0.0)
        assert "reviewed: drop" in m[ids[3]]["reasons"]

    check_manifest(sid)
    summary = json.loads((ws / "summary.json").read_text())
    assert {k: summary["review"][k] for k in ("decisions", "reviewed", "accepted", "overruled", "missing")} == {
        "decisions": 4,
        "reviewed": 4,
        "accepted": 2,
        "overruled": 2,
        "missing": 0,
    }
    assert (
        "4 of " in (ws / "report.html").read_text()
        and "reviewed, accepted: relabel → " in (ws / "report.html").read_text()
    )

    # a re-scan of a grown dataset where one decided image was renamed keeps every decision
    renamed = sid[2].replace(".png", "_renamed.png")
    (data / sid[2]).rename(data / renamed)
    with Image.open(data / "zero" / "010.png") as img:
        img.rotate(90).save(data / "zero" / "new.png")
    again = scan(data, ws, tiny_clip_dir)
    assert again["changes"]["added"] == 2 and again["changes"]["removed"] == 1
    check_manifest([sid[0], sid[1], renamed, sid[3]])
    # every decision applies (one may no longer be a proposal, now that the neighbourhoods changed)
    assert again["review"]["decisions"] == 4 and again["review"]["missing"] == 0

    # a decided image that leaves the data is reported, not dropped silently
    (data / sid[3]).unlink()
    gone = scan(data, ws, tiny_clip_dir)
    assert gone["review"]["missing"] == 1 and gone["review"]["decisions"] == 3
    assert gone["review"]["missing_examples"][0]["sample_id"] == sid[3]
