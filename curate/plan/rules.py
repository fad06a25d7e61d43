"""The rules that turn one sample's findings into a proposed action and the reasons for it.

A rule is a function ``(sample: SampleFindings, options: RuleOptions) -> Verdict | None``,
registered under a name and a priority (``@RULES.register("name", priority=...)``); it returns
None when it has nothing to say about the sample. :func:`decide` runs every registered rule on
a sample, lowest priority number first. When several rules fire:

* the strongest action wins: drop > review > relabel > keep (:data:`ACTION_STRENGTH`); a sample
  no rule fires on is kept;
* every rule that fired contributes its reasons, in priority order, whatever won (a dropped
  exact duplicate still says it was also an outlier);
* a relabel takes effect only when relabel is the winning action, so a label issue that another
  rule sends to review or drop keeps its given label. If two rules relabel, the first one's
  class is used.

The built-in rules, in priority order:

* ``unreadable``       -> drop ("unreadable: <error>")
* ``exact_duplicate``  (not the group's keeper) -> drop ("exact duplicate of <keeper>")
* ``near_duplicate``   (not the keeper) -> drop with ``drop_near_duplicates``, otherwise keep
  ("near duplicate of <keeper>"; the weighting step then downweights the group)
* ``leak``             (duplicate group spanning splits) -> review
* ``label_issue``      -> relabel when the evidence carries it: the calibrated probability that
  the suggestion is the true class (``suggestion_probability``, :mod:`curate.score.noise.evidence`)
  reaches ``relabel_threshold`` (0.95), the neighbour majority agrees, and neither the space nor
  the (given, suggested) pair or either class is weak (``RuleOptions.weak_pairs``,
  ``weak_classes``), and the row is at least as typical (``outlier_score``) as all but
  ``1 - relabel_threshold`` of the rows the evidence confirms as the suggested class
  (``RuleOptions.min_relabel_typicality``: the calibration was checked on rows like those, and
  a row unlike them is an extrapolation, not a member of the class); otherwise review
  ("label issue: given cat, suggested dog (0.93)" + why it was not relabelled) when the given
  label is more likely wrong than right (``mislabel_probability`` >= one half), else keep: the
  review queue holds only what the evidence supports, and the flagged rows it leaves out say
  "not queued" and are counted per class pair in summary.json's ``label_evidence``. Issues rows
  without those columns (an older score stage) fall back to ``suggested_confidence``.
* ``tag_issue``        (multi-label) -> relabel to a new tag set when every tag named missing has
  P(present) at least its bar and every spurious one at most 1 - its bar (``tag_bars``: derived
  per tag, or ``--tag-confidence``), with reasons ``missing_tag:<t>`` / ``spurious_tag:<t>``;
  otherwise (or with weak label evidence) review ("not retagged: ...")
* ``outlier``          -> the ``outliers`` option: review, drop or keep ("outlier (score 0.03)")
* ``caption_filter``   -> drop a pair below ``--min-caption-score`` or outside ``--keep-top-fraction``
  (:mod:`curate.plan.captions`)

Class-level decisions (undersampling to a cap, sampling weights) are not per-sample rules; they
run after the rules (:func:`curate.plan.rebalance.sampling_weights`).

A new issue type contributes a rule by declaring it in one place: ``IssueType.rule`` (an action
and a reason, applied to its flagged samples after the built-in rules; :func:`declared_rules`),
or, for more than that, a function reading its columns of ``sample.issues`` (the sample's
issues.parquet row) decorated with ``@RULES.register``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curate.issues import IssueType

#: How strong each action is when several rules fire on one sample: the strongest wins.
ACTION_STRENGTH = {"keep": 0, "relabel": 1, "review": 2, "drop": 3}

#: What ``propose(outliers=...)`` may do with an outlier.
OUTLIER_ACTIONS = ("review", "drop", "keep")


@dataclass(frozen=True, slots=True)
class SampleFindings:
    """Everything the rules may look at for one sample.

    label:            the given class name; None when unlabelled
    issues:           the sample's issues.parquet row; empty when the score stage has not run,
                      all values None when it did not score this sample
    duplicate_keeper: the sample_id its duplicate group keeps; None outside a group
    has_neighbours:   a neighbour graph was given (the relabel vote needs one)
    neighbour_vote:   the class most of its neighbours carry; None when none votes
    """

    sample_id: str
    label: str | None
    readable: bool
    error: str | None
    issues: Mapping[str, Any] = field(default_factory=dict)
    duplicate_keeper: str | None = None
    has_neighbours: bool = False
    neighbour_vote: str | None = None
    #: multi-label data: the given tags (sorted); None for single-label data
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """The user's choices that rules read (the arguments of :func:`curate.plan.propose.propose`),
    and what the score stage measured of the label evidence (``weak_evidence``: the whole space;
    ``weak_pairs``: the class pairs it cannot separate, each a frozenset of two class names;
    ``weak_classes``: the classes whose given labels it barely recovers)."""

    class_names: frozenset[str]
    relabel_threshold: float = 0.95
    drop_near_duplicates: bool = False
    outliers: str = "review"
    weak_evidence: bool = False
    weak_pairs: frozenset[frozenset[str]] = frozenset()
    weak_classes: frozenset[str] = frozenset()
    #: per suggested class, the least typicality (``outlier_score``) a relabelled row may have;
    #: a class not in it: no such check (:func:`curate.plan.propose.relabel_typicality`)
    min_relabel_typicality: Mapping[str, float] = field(default_factory=dict)
    #: image-text pairs' CLIP-score filters (curate.plan.captions.CaptionFilter); None: none
    caption_filter: Any = None
    #: multi-label data: per tag, the P(present) a missing tag needs to be added; a spurious tag
    #: is removed at 1 - that or less (:func:`curate.plan.propose.tag_bars`)
    tag_bars: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one rule proposes for one sample: an action, its reasons, and for relabel the class."""

    action: str
    reasons: tuple[str, ...]
    relabel_to: str | None = None
    #: multi-label: the new tag set of a relabel (tags added / removed)
    retag_to: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of every rule on one sample: the winning action, all reasons, the final label."""

    action: str
    reasons: list[str]
    label: str | None
    #: multi-label: the final tag set (None for single-label data)
    tags: tuple[str, ...] | None = None


RuleFunction = Callable[[SampleFindings, RuleOptions], "Verdict | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A registered rule: lower ``priority`` runs first, so its reasons come first."""

    name: str
    priority: int
    judge: RuleFunction


class RuleRegistry:
    """Named rules with priorities; :data:`RULES` holds the ones ``propose`` applies."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def register(self, name: str, *, priority: int) -> Callable[[RuleFunction], RuleFunction]:
        """Decorator: add the function as rule ``name``. Names are unique; equal priorities keep
        registration order."""

        def add(judge: RuleFunction) -> RuleFunction:
            if name in self._rules:
                raise ValueError(f"a rule named {name!r} is already registered")
            self._rules[name] = Rule(name, priority, judge)
            return judge

        return add

    def ordered(self) -> tuple[Rule, ...]:
        """The rules in the order they run."""
        return tuple(sorted(self._rules.values(), key=lambda r: r.priority))


RULES = RuleRegistry()

#: Issue types' declared rules run after every built-in one (priorities below this).
DECLARED_RULE_PRIORITY = 1000


def decide(sample: SampleFindings, options: RuleOptions, rules: tuple[Rule, ...] | None = None) -> Decision:
    """Run ``rules`` (default: every rule in :data:`RULES`) on one sample; see the module doc."""
    action, reasons, relabel_to, retag_to = "keep", [], None, None
    for r in RULES.ordered() if rules is None else rules:
        verdict = r.judge(sample, options)
        if verdict is None:
            continue
        reasons.extend(verdict.reasons)
        if ACTION_STRENGTH[verdict.action] > ACTION_STRENGTH[action]:
            action = verdict.action
        if verdict.relabel_to is not None and relabel_to is None:
            relabel_to = verdict.relabel_to
        if verdict.retag_to is not None and retag_to is None:
            retag_to = verdict.retag_to
    tags = retag_to if action == "relabel" and retag_to is not None else sample.tags
    return Decision(action, reasons, relabel_to if action == "relabel" else sample.label, tags)


def declared_rules() -> tuple[Rule, ...]:
    """A rule for every issue type that declares one (``IssueType.rule``), after the built-in rules:
    a flagged sample gets the declared action and reason (formatted with its issues row)."""
    from curate.issues import issue_types

    def rule_of(issue_type: IssueType) -> Rule:
        declared = issue_type.rule
        assert declared is not None

        def judge(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
            if not sample.issues.get(issue_type.flag):
                return None
            return Verdict(declared.action, (declared.reason.format(**sample.issues),))

        return Rule(issue_type.name, DECLARED_RULE_PRIORITY + issue_type.order, judge)

    return tuple(rule_of(t) for t in issue_types() if t.rule is not None)


def drop_if_unreadable(readable: bool, error: str | None) -> Verdict | None:
    """Nothing can train on an input that cannot be decoded. Export applies this too, because a
    manifest can be built without a plan."""
    if readable:
        return None
    return Verdict("drop", (f"unreadable: {error or 'unknown error'}",))


@RULES.register("unreadable", priority=10)
def unreadable(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Drop an input that cannot be decoded."""
    return drop_if_unreadable(sample.readable, sample.error)


def duplicate_kind(sample: SampleFindings) -> str | None:
    """ "exact" or "near" for any member of a duplicate group, keeper included (an unknown kind
    counts as near, the milder one); None outside a group."""
    if sample.issues.get("duplicate_group") is None:
        return None
    return "exact" if sample.issues.get("duplicate_kind") == "exact" else "near"


@RULES.register("exact_duplicate", priority=20)
def exact_duplicate(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Drop a byte-identical copy: it adds nothing its keeper does not."""
    if not sample.issues.get("is_duplicate") or duplicate_kind(sample) != "exact":
        return None
    return Verdict("drop", (f"exact duplicate of {sample.duplicate_keeper}",))


@RULES.register("near_duplicate", priority=30)
def near_duplicate(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Drop a near copy when asked to; otherwise keep it and let the weighting step sample its
    group like one image."""
    if not sample.issues.get("is_duplicate") or duplicate_kind(sample) != "near":
        return None
    return Verdict(
        "drop" if options.drop_near_duplicates else "keep", (f"near duplicate of {sample.duplicate_keeper}",)
    )


@RULES.register("leak", priority=40)
def leak(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """A duplicate group spanning splits leaks test data into training: a person decides."""
    if not sample.issues.get("is_leak"):
        return None
    return Verdict("review", (f"duplicate across splits (leak, group {sample.issues.get('duplicate_group')})",))


#: The reason a flagged label the evidence does not support reviewing starts with.
NOT_QUEUED = "not queued"


@RULES.register("label_issue", priority=50)
def label_issue(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Relabel only where the evidence carries it; review where the label is more likely wrong
    than right; otherwise keep, saying why (see the module doc)."""
    from curate.config import REVIEW_MISLABEL_PROBABILITY

    if not sample.issues.get("is_label_issue") or sample.label is None:
        return None
    given = sample.label
    suggested = sample.issues.get("suggested_label")
    confidence = sample.issues.get("suggested_confidence")
    if suggested is None or suggested == given or suggested not in options.class_names:
        return Verdict("review", (f"label issue: given {given}",))
    calibrated = sample.issues.get("suggestion_probability")
    wrong = sample.issues.get("mislabel_probability")
    shown = calibrated if calibrated is not None else confidence
    claim = f"label issue: given {given}, suggested {suggested} ({(shown or 0.0):.2f})"
    weak_pair = frozenset((given, suggested)) in options.weak_pairs
    if wrong is not None and wrong < REVIEW_MISLABEL_PROBABILITY:
        return Verdict(
            "keep", (claim, f"{NOT_QUEUED}: the evidence puts the given label more likely right (wrong {wrong:.2f})")
        )
    if shown is None or shown < options.relabel_threshold:
        kind = "probability" if calibrated is not None else "confidence"
        return Verdict("review", (claim, f"not relabelled: {kind} below {options.relabel_threshold:.2f}"))
    if options.weak_evidence:
        return Verdict("review", (claim, "not relabelled: the label evidence is weak in this space"))
    if weak_pair:
        return Verdict("review", (claim, f"not relabelled: the embedding barely separates {given} and {suggested}"))
    weak_class = next((c for c in (given, suggested) if c in options.weak_classes), None)
    if weak_class is not None:
        return Verdict("review", (claim, f"not relabelled: the label evidence for {weak_class} is weak"))
    typicality = sample.issues.get("outlier_score")
    cut = options.min_relabel_typicality.get(suggested)
    if cut is not None and typicality is not None and typicality < cut:
        confirmed = f"the rows the evidence confirms as {suggested}"
        return Verdict("review", (claim, f"not relabelled: less typical ({typicality:.2f}) than {confirmed}"))
    if not sample.has_neighbours:
        return Verdict("review", (claim, "not relabelled: no neighbours to confirm"))
    if sample.neighbour_vote != suggested:
        vote = "nothing" if sample.neighbour_vote is None else sample.neighbour_vote
        return Verdict("review", (claim, f"not relabelled: neighbours vote {vote}"))
    return Verdict("relabel", (claim,), relabel_to=suggested)


MISSING_TAG = "missing_tag"
SPURIOUS_TAG = "spurious_tag"


@RULES.register("tag_issue", priority=51)
def tag_issue(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Multi-label data: add the tags named missing and remove the ones named spurious where the
    evidence is confident (``missing_tag:<t>`` / ``spurious_tag:<t>``, action relabel: a new tag
    set, reviewable like a relabel); a named tag below its bar goes to review ("not retagged");
    weak label evidence sends every change to review."""
    if sample.tags is None or not sample.issues.get("is_label_issue"):
        return None
    given = set(sample.tags)
    named = [
        (MISSING_TAG, t, p)
        for t, p in zip(sample.issues.get("missing_labels") or [], sample.issues.get("missing_label_probs") or [])
    ] + [
        (SPURIOUS_TAG, t, p)
        for t, p in zip(sample.issues.get("spurious_labels") or [], sample.issues.get("spurious_label_probs") or [])
    ]
    if not named:
        return Verdict("review", ("label issue: tags",))
    confident, doubtful = [], []
    for kind, tag, p in named:
        bar = options.tag_bars.get(tag)
        sure = bar is not None and (p >= bar if kind == MISSING_TAG else p <= 1.0 - bar)
        (confident if sure else doubtful).append((kind, tag, p))
    reasons = tuple(f"{kind}:{tag}" for kind, tag, _ in named)
    if options.weak_evidence:
        return Verdict("review", (*reasons, "not retagged: the label evidence is weak in this space"))
    if doubtful:
        shown = ", ".join(f"{tag} ({p:.2f})" for _, tag, p in doubtful)
        return Verdict("review", (*reasons, f"not retagged: not confident about {shown}"))
    for kind, tag, _ in confident:
        if kind == MISSING_TAG:
            given.add(tag)
        else:
            given.discard(tag)
    from curate.index.candidates import sorted_class_names

    return Verdict("relabel", reasons, retag_to=tuple(sorted_class_names(given)))


@RULES.register("outlier", priority=60)
def outlier(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Do with an outlier what the ``outliers`` option says (review by default)."""
    if not sample.issues.get("is_outlier"):
        return None
    return Verdict(options.outliers, (f"outlier (score {sample.issues.get('outlier_score'):.2f})",))


@RULES.register("caption_filter", priority=70)
def caption_filter(sample: SampleFindings, options: RuleOptions) -> Verdict | None:
    """Drop a pair the caption filters leave out (``--min-caption-score``, ``--keep-top-fraction``)."""
    f = options.caption_filter
    score = sample.issues.get("caption_score")
    if f is None or score is None:
        return None
    reasons = []
    if f.min_caption_score is not None and score < f.min_caption_score:
        reasons.append(f"caption score {score:.3f} below --min-caption-score {f.min_caption_score:g}")
    if f.kept is not None and sample.sample_id not in f.kept:
        cut = "" if f.top_cut is None else f", cut {f.top_cut:.3f}"
        reasons.append(f"caption score {score:.3f} outside the top {f.keep_top_fraction:.0%} of pairs{cut}")
    return Verdict("drop", tuple(reasons)) if reasons else None
