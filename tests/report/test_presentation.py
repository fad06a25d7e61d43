"""What a person sees on the page, checked in headless Chromium: the class caption, the cards'
colours, the hard negatives' cosines and the review queue's order (tests/report/chromium.py)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.report import collect
from curate.scan import run_scan
from curate.workspace import Workspace
from tests.report.chromium import CHROMIUM, SKIP_REASON, DevToolsPage

#: the page's amber (a card near its limit), as the browser computes it
AMBER = "rgb(254, 244, 230)"


@pytest.fixture
def tight_three_classes(tmp_path) -> Workspace:
    """1,000 / 700 / 500 samples of three classes in a tight space (every cosine above 0.99, as a
    metric-learning model's), a few labels flipped: negatives, proposals and a review queue."""
    rng = np.random.default_rng(0)
    dim, counts = 32, (1000, 700, 500)
    common = rng.normal(size=dim)
    centres = [common + 0.08 * rng.normal(size=dim) for _ in counts]
    x = np.concatenate([c + 0.02 * rng.normal(size=(n, dim)) for c, n in zip(centres, counts)])
    y = np.repeat(np.arange(3), counts)
    flip = rng.choice(len(y), 40, replace=False)
    y[flip] = (y[flip] + 1) % 3
    np.save(tmp_path / "e.npy", x.astype(np.float32))
    np.save(tmp_path / "l.npy", np.array(["cat", "dog", "cow"])[y])
    ws = Workspace(tmp_path / "ws")
    run_scan(None, ws, embeddings=tmp_path / "e.npy", labels=tmp_path / "l.npy")
    return ws


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_what_the_page_shows_matches_the_data(tight_three_classes, tmp_path):
    ws = tight_three_classes
    with DevToolsPage.launch(tmp_path / "profile") as page:
        page.open(ws.path("report").as_uri())
        pills = page.evaluate("Array.from(document.querySelectorAll('#classes .lead .pill')).map(p => p.textContent)")
        cards = page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('.card')).map("
            "c => [c.querySelector('.t').textContent.trim(), getComputedStyle(c).backgroundColor]))"
        )
        cosines = page.evaluate("Array.from(document.querySelectorAll('#negatives .tile .d')).map(d => d.textContent)")
        queue = page.evaluate("Array.from(document.querySelectorAll('#review .tile .id')).map(d => d.textContent)")
        lead = page.evaluate("document.querySelector('#classes .lead').textContent")

    # with 3 classes: one largest and one smallest, not every class twice
    assert [p.split(" · ")[0] for p in pills] == ["cat", "cow"], pills
    assert "log scale" not in lead  # 500 to 1,000 is drawn linearly, in proportion
    # the review gate's default (100%) cannot fail: the card is not amber
    assert cards["Unreviewed proposals"] != AMBER, cards
    # in a tight space the cosines still differ on the page
    assert cosines and all(c != "cos 1.00" for c in cosines) and len(set(cosines)) > 1, cosines[:5]
    # the queue is worst first (every item is undecided)
    issues = ws.read_table("issues")
    severity = collect.review_severity(issues, queue)
    assert queue and list(severity) == sorted(severity), list(zip(queue, severity))[:8]
