"""Each propose rule on its own, how they combine, and the registry new rules join."""

import pytest

from curate.plan.rules import (
    RULES,
    RuleOptions,
    RuleRegistry,
    SampleFindings,
    Verdict,
    decide,
    drop_if_unreadable,
    exact_duplicate,
    label_issue,
    leak,
    near_duplicate,
    outlier,
    unreadable,
)

OPTIONS = RuleOptions(frozenset({"cat", "dog"}))


def sample(label="cat", readable=True, error=None, keeper=None, has_neighbours=True, vote="cat", **issues):
    return SampleFindings(
        sample_id="s",
        label=label,
        readable=readable,
        error=error,
        issues=issues,
        duplicate_keeper=keeper,
        has_neighbours=has_neighbours,
        neighbour_vote=vote,
    )


def test_builtin_rules_run_in_documented_order():
    assert [r.name for r in RULES.ordered()] == [
        "unreadable",
        "exact_duplicate",
        "near_duplicate",
        "leak",
        "label_issue",
        "tag_issue",
        "outlier",
        "caption_filter",
    ]


def test_unreadable():
    assert unreadable(sample(), OPTIONS) is None
    assert unreadable(sample(readable=False, error="truncated"), OPTIONS) == Verdict("drop", ("unreadable: truncated",))
    assert drop_if_unreadable(False, None) == Verdict("drop", ("unreadable: unknown error",))


def test_exact_duplicate():
    copy = sample(keeper="k", is_duplicate=True, duplicate_group="g", duplicate_kind="exact")
    assert exact_duplicate(copy, OPTIONS) == Verdict("drop", ("exact duplicate of k",))
    keeper = sample(keeper="k", is_duplicate=False, duplicate_group="g", duplicate_kind="exact")
    assert exact_duplicate(keeper, OPTIONS) is None
    assert (
        exact_duplicate(sample(keeper="k", is_duplicate=True, duplicate_group="g", duplicate_kind="near"), OPTIONS)
        is None
    )


def test_near_duplicate_keeps_unless_told_to_drop():
    copy = sample(keeper="k", is_duplicate=True, duplicate_group="g", duplicate_kind="near")
    assert near_duplicate(copy, OPTIONS) == Verdict("keep", ("near duplicate of k",))
    dropping = RuleOptions(OPTIONS.class_names, drop_near_duplicates=True)
    assert near_duplicate(copy, dropping) == Verdict("drop", ("near duplicate of k",))
    unknown_kind = sample(keeper="k", is_duplicate=True, duplicate_group="g", duplicate_kind=None)
    assert near_duplicate(unknown_kind, OPTIONS).action == "keep"  # an unknown kind is the milder one
    assert near_duplicate(sample(is_duplicate=True, duplicate_group=None), OPTIONS) is None


def test_leak():
    assert leak(sample(is_leak=False), OPTIONS) is None
    assert leak(sample(is_leak=True, duplicate_group="g7"), OPTIONS) == Verdict(
        "review", ("duplicate across splits (leak, group g7)",)
    )


def test_label_issue_relabels_only_when_confident_and_confirmed():
    def issue(**kw):
        found = {"is_label_issue": True, "suggested_label": "dog", "suggested_confidence": 0.95}
        return sample(**{**found, **kw})

    claim = "label issue: given cat, suggested dog (0.95)"
    assert label_issue(issue(is_label_issue=False), OPTIONS) is None
    assert label_issue(issue(label=None), OPTIONS) is None
    assert label_issue(issue(vote="dog"), OPTIONS) == Verdict("relabel", (claim,), relabel_to="dog")
    assert label_issue(issue(vote="cat"), OPTIONS) == Verdict("review", (claim, "not relabelled: neighbours vote cat"))
    assert label_issue(issue(vote=None), OPTIONS).reasons[1] == "not relabelled: neighbours vote nothing"
    assert (
        label_issue(issue(has_neighbours=False, vote=None), OPTIONS).reasons[1]
        == "not relabelled: no neighbours to confirm"
    )
    low = label_issue(issue(suggested_confidence=0.5, vote="dog"), OPTIONS)
    assert low == Verdict(
        "review", ("label issue: given cat, suggested dog (0.50)", "not relabelled: confidence below 0.95")
    )
    for unusable in (None, "cat", "not-a-class"):
        assert label_issue(issue(suggested_label=unusable), OPTIONS) == Verdict("review", ("label issue: given cat",))


def test_label_issue_acts_only_on_evidence_that_carries_it():
    """With the evidence's probabilities: a relabel needs the calibrated probability and a pair
    the space separates; a label more likely right than wrong is kept out of the queue."""

    def issue(**kw):
        found = {
            "is_label_issue": True,
            "suggested_label": "dog",
            "suggested_confidence": 0.99,
            "suggestion_probability": 0.97,
            "mislabel_probability": 0.97,
        }
        return sample(vote="dog", **{**found, **kw})

    claim = "label issue: given cat, suggested dog (0.97)"
    assert label_issue(issue(), OPTIONS) == Verdict("relabel", (claim,), relabel_to="dog")
    # the raw confidence is high, the calibrated probability is not: review
    below = label_issue(issue(suggestion_probability=0.9, mislabel_probability=0.9), OPTIONS)
    assert below.action == "review" and below.reasons[1] == "not relabelled: probability below 0.95"
    weak_pair = RuleOptions(OPTIONS.class_names, weak_pairs=frozenset({frozenset({"cat", "dog"})}))
    assert label_issue(issue(), weak_pair) == Verdict(
        "review", (claim, "not relabelled: the embedding barely separates cat and dog")
    )
    weak_class = RuleOptions(OPTIONS.class_names, weak_classes=frozenset({"dog"}))
    assert label_issue(issue(), weak_class).reasons[1] == "not relabelled: the label evidence for dog is weak"
    weak_space = RuleOptions(OPTIONS.class_names, weak_evidence=True)
    assert label_issue(issue(), weak_space).reasons[1] == "not relabelled: the label evidence is weak in this space"
    kept = label_issue(issue(suggestion_probability=0.3, mislabel_probability=0.35), OPTIONS)
    assert kept.action == "keep" and kept.reasons[1].startswith("not queued: ")
    # a row less typical than the confirmed rows is an extrapolation: review, not relabel
    typical = RuleOptions(OPTIONS.class_names, min_relabel_typicality={"dog": 0.8, "cat": 0.5})
    assert label_issue(issue(outlier_score=0.9), typical).action == "relabel"
    atypical = label_issue(issue(outlier_score=0.7), typical)
    assert atypical.action == "review"
    assert atypical.reasons[1] == "not relabelled: less typical (0.70) than the rows the evidence confirms as dog"


@pytest.mark.parametrize("choice", ["review", "drop", "keep"])
def test_outlier_follows_the_option(choice):
    options = RuleOptions(OPTIONS.class_names, outliers=choice)
    assert outlier(sample(is_outlier=True, outlier_score=0.031), options) == Verdict(choice, ("outlier (score 0.03)",))
    assert outlier(sample(is_outlier=False, outlier_score=0.9), options) is None


def test_strongest_action_wins_and_every_reason_is_kept():
    found = sample(
        vote="dog",
        keeper="k",
        is_duplicate=True,
        duplicate_group="g",
        duplicate_kind="exact",
        is_label_issue=True,
        suggested_label="dog",
        suggested_confidence=0.95,
        is_outlier=True,
        outlier_score=0.01,
    )
    decision = decide(found, OPTIONS)
    assert decision.action == "drop"
    assert decision.label == "cat"  # the relabel lost to the drop, so the given label stays
    assert decision.reasons == [
        "exact duplicate of k",
        "label issue: given cat, suggested dog (0.95)",
        "outlier (score 0.01)",
    ]
    relabelled = decide(
        sample(vote="dog", is_label_issue=True, suggested_label="dog", suggested_confidence=0.95), OPTIONS
    )
    assert (relabelled.action, relabelled.label) == ("relabel", "dog")
    assert decide(sample(), OPTIONS).action == "keep" and decide(sample(), OPTIONS).reasons == []


def test_a_registered_rule_joins_in_priority_order():
    registry = RuleRegistry()

    @registry.register("blurry", priority=55)
    def blurry(s, options):
        return Verdict("review", ("blurry",)) if s.issues.get("is_blurry") else None

    registry.register("unreadable", priority=10)(unreadable)
    assert [r.name for r in registry.ordered()] == ["unreadable", "blurry"]
    decision = decide(sample(readable=False, error="bad", is_blurry=True), OPTIONS, registry.ordered())
    assert (decision.action, decision.reasons) == ("drop", ["unreadable: bad", "blurry"])
    with pytest.raises(ValueError, match="already registered"):
        registry.register("blurry", priority=1)(blurry)
