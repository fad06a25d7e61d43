"""The CLIP-score filters: --min-caption-score (LAION) and --keep-top-fraction (DataComp)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.plan.captions import caption_filter
from curate.plan.rules import RuleOptions, SampleFindings, decide


def findings(sid: str, score: float | None, **issues) -> SampleFindings:
    return SampleFindings(sid, None, True, None, issues={"caption_score": score, **issues})


def test_keep_top_fraction_keeps_exactly_that_share():
    rng = np.random.default_rng(0)
    ids = [f"s{i:03d}" for i in range(200)]
    scores = rng.uniform(0.1, 0.4, size=200).tolist()
    f = caption_filter(ids + ["no-caption"], scores + [None], keep_top_fraction=0.3)
    assert f is not None and f.pairs == 200 and f.kept is not None and len(f.kept) == 60
    options = RuleOptions(frozenset(), caption_filter=f)
    actions = [decide(findings(sid, s), options).action for sid, s in zip(ids, scores)]
    assert actions.count("keep") == 60
    assert min(s for s, a in zip(scores, actions) if a == "keep") == pytest.approx(f.top_cut)
    assert decide(findings("no-caption", None), options).action == "keep"  # not a pair: not filtered
    dropped = decide(findings(ids[int(np.argmin(scores))], min(scores)), options)
    assert dropped.reasons[0].startswith("caption score") and "outside the top 30% of pairs" in dropped.reasons[0]


def test_ties_are_broken_by_sample_id():
    f = caption_filter(["b", "a", "c", "d"], [0.3, 0.3, 0.3, 0.1], keep_top_fraction=0.5)
    assert f is not None and f.kept == frozenset({"a", "b"})


def test_min_caption_score_drops_below_it_and_says_so():
    f = caption_filter(["a", "b"], [0.27, 0.29], min_caption_score=0.28)
    options = RuleOptions(frozenset(), caption_filter=f)
    low = decide(findings("a", 0.27), options)
    assert low.action == "drop" and low.reasons == ["caption score 0.270 below --min-caption-score 0.28"]
    assert decide(findings("b", 0.29), options).action == "keep"
    assert caption_filter(["a"], [0.3]) is None


def test_a_mismatch_goes_to_review_unless_a_filter_drops_it():
    from curate.plan.rules import RULES, declared_rules

    rules = RULES.ordered() + declared_rules()
    row = {"caption_score": 0.31, "caption_quality": 0.4, "is_caption_mismatch": True}
    out = decide(SampleFindings("a", None, True, None, issues=row), RuleOptions(frozenset()), rules)
    assert out.action == "review" and out.reasons[0].startswith("caption mismatch (caption score 0.310")
    f = caption_filter(["a"], [0.31], min_caption_score=0.35)
    both = decide(SampleFindings("a", None, True, None, issues=row), RuleOptions(frozenset(), caption_filter=f), rules)
    assert both.action == "drop" and len(both.reasons) == 2
