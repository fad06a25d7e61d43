"""curate vs cleanlab's Datalab on embedding geometries built from real data, side by side.

    PYTHONPATH=. python tests/bench/bench_geometries.py [--only NAME ...] [--seed S | --seeds S ...] [--json PATH]

Every geometry of ``tests/bench/geometries.py`` (digits as pixels, PCA, HOG and a metric-learning
network; wine and breast-cancer tables; textile photos as HOG and as pixels + PCA;
``curate.synth`` tight, default and diffuse) carries planted label noise, near-duplicates and
outliers on a long-tailed class distribution. For each, in this one process:

* **curate** runs its real chain after embedding: the features and given labels are saved as
  ``E.npy`` / ``L.npy`` and ``run_scan(None, Workspace(tmp/"ws"), embeddings=..., labels=...)``
  runs every stage ``curate scan --embeddings`` runs (report included); its findings are read
  back from issues.parquet and summary.json;
* **Datalab** gets the same float32 features: ``Datalab(data={"label": labels},
  label_name="label").find_issues(features=X, issue_types={"label": {}, "outlier": {},
  "near_duplicate": {}})``;
* **the expert recipe** (:mod:`tests.bench.expert`): cleanlab's ``find_label_issues`` on 5-fold
  out-of-fold logistic-regression probabilities of the same features, ``C = 10`` and ``C`` by
  inner cross-validation, the better of the two (by label F1) the reference.

After the Datalab bar, a judgement table: curate's label evidence, the relabels each tool
applies and the share right (with how many wrong, and how many of those a neighbour vote over
the *clean* labels makes too: the geometry's class overlap, which no method reading the features
avoids; the bar is not relaxed for them), the relabel + review queue over the planted problems,
and label / tail F1 against the expert recipe, with **✗** where curate misses
:func:`judgement_misses`.

Measured against the planted truth: label-issue precision/recall/F1 over non-outlier rows, and
F1 on the smallest classes (the min(10, ceil(K/2)) smallest by given-label count, as
bench_noise.py counts its tail); duplicate F1 on group membership; outlier AUROC (from
``1 - outlier_score``, which both tools scale so that 1 = typical); each tool's reported rates
next to the planted ones (duplicate rate = redundant copies / N); wall seconds; and the median
nearest-neighbour cosine of the features, which says what kind of space it is. Prints one
Markdown table: rows per geometry for curate, Datalab, and curate minus Datalab (its wall cell:
curate's time as a multiple of Datalab's). curate's time covers its whole chain (hard negatives,
plan, manifest and report too), Datalab's only its three checks; both run after a warm-up, so
neither pays for imports. Then the bar, one row per geometry with **✗** where curate misses it
(label and duplicate F1 >= Datalab's, outlier AUROC >= Datalab's - 0.01; on the synthetic spaces
label F1 >= Datalab's + 0.05), and the notes each tool gave.

Most real geometries are small (142 wine rows, 783 digits, ~1,500 textile photos), so one seed's
F1 moves by a few hundredths with which rows it draws: one wine flag is 0.03. ``--seeds 0 1 2 3 4``
runs each seed and prints each seed's bar, then the bar on each geometry's mean over the seeds,
then every per-seed miss with a paired-bootstrap 95 % interval of the difference
(:func:`paired_f1_interval`), the same against the expert recipe per seed and with every seed's
rows pooled (:func:`print_expert_intervals`), and each geometry's duplicate rate per seed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_noise import prf  # noqa: E402
from tests.bench.geometries import GEOMETRIES, Geometry  # noqa: E402

RATE_NAMES = ("label_issue_rate", "duplicate_rate", "outlier_rate")


@dataclass
class ToolResult:
    """One tool's findings on one geometry, aligned with the geometry's rows.

    is_label_issue:     (N,) bool
    in_duplicate_group: (N,) bool, a member of any duplicate group (a kept row included)
    outlier_score:      (N,) float64, 1 = typical, lower = more outlying
    rates:              the tool's own label-issue, duplicate (redundant copies / N) and outlier rates
    notes:              what the tool said about its run (calibration, parameters, warnings)
    relabel_to:         (N,) int64 the class a row's label is changed to (-1: unchanged); curate's
                        manifest relabels, Datalab's and the expert recipe's suggestion for every
                        flagged row (what a user who follows them applies)
    queue_size:         relabels + reviews (curate's plan), or every flagged row (the others)
    """

    tool: str
    is_label_issue: np.ndarray
    in_duplicate_group: np.ndarray
    outlier_score: np.ndarray
    rates: dict[str, float | None]
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)
    relabel_to: np.ndarray | None = None  # (N,) int64 the class each row is relabelled to, -1 where not
    queue_size: int | None = None  # relabels + rows held for review: what a person is asked to look at
    label_evidence: float | None = None  # the tool's own reading of its evidence (curate's strength)


def median_nearest_neighbour_cosine(features: np.ndarray, block: int = 1024) -> float:
    """Median over rows of the cosine to the nearest other row; features (N, D) float."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    nearest = np.empty(len(unit))
    for start in range(0, len(unit), block):
        sims = unit[start : start + block] @ unit.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        nearest[start : start + block] = sims.max(axis=1)
    return float(np.median(nearest))


def run_curate(geometry: Geometry, workdir: Path) -> ToolResult:
    """``curate scan --embeddings E.npy --labels L.npy`` as a library call, timed end to end.

    A stage that crashes after export has written summary.json (the report is the last stage)
    does not lose the findings: the crash is recorded in the notes and the artifacts are read.
    """
    import pyarrow.parquet as pq

    from curate.scan import run_scan
    from curate.workspace import Workspace, read_meta

    np.save(workdir / "E.npy", geometry.features)
    np.save(workdir / "L.npy", geometry.labels)
    ws = Workspace(workdir / "ws")
    crash = None
    started = time.perf_counter()
    try:
        run_scan(None, ws, embeddings=workdir / "E.npy", labels=workdir / "L.npy")
    except Exception as error:  # noqa: BLE001  reported in the table, not hidden
        if not ws.path("summary").exists():
            raise
        crash = f"run_scan raised {type(error).__name__}: {error} after writing summary.json"
    seconds = time.perf_counter() - started
    summary = json.loads(ws.path("summary").read_text())

    issues = pq.read_table(
        ws.path("issues"), columns=["sample_id", "is_label_issue", "duplicate_group", "outlier_score"]
    )
    row = np.asarray(issues.column("sample_id").to_pylist(), dtype=np.int64)
    if not np.array_equal(np.sort(row), np.arange(len(geometry.labels))):
        raise RuntimeError("issues.parquet sample ids are not the row numbers 0..N-1")
    order = np.argsort(row)
    extra = read_meta(ws.path("issues")).get("extra", {})
    manifest = pq.read_table(ws.path("manifest"), columns=["sample_id", "action", "label"]).to_pydict()
    relabel_to = np.full(len(geometry.labels), -1, dtype=np.int64)
    queue = 0
    for sid, action, label in zip(manifest["sample_id"], manifest["action"], manifest["label"]):
        queue += action in ("relabel", "review")
        if action == "relabel":
            relabel_to[int(sid)] = int(label)  # L.npy holds the class numbers: their names are those
    return ToolResult(
        tool="curate",
        is_label_issue=issues.column("is_label_issue").to_numpy(zero_copy_only=False)[order],
        in_duplicate_group=issues.column("duplicate_group").is_valid().to_numpy(zero_copy_only=False)[order],
        outlier_score=issues.column("outlier_score").to_numpy(zero_copy_only=False)[order].astype(np.float64),
        rates={name: summary[name] for name in RATE_NAMES},
        seconds=seconds,
        notes={
            "score_params": summary["stages"]["issues"]["params"],
            "score_notes": extra.get("notes", []),
            "not_measured": summary.get("not_measured", {}),
            "crash": crash,
            "label_evidence": summary.get("label_evidence"),
        },
        relabel_to=relabel_to,
        queue_size=queue,
        label_evidence=summary.get("label_evidence_strength"),
    )


def redundant_members(near_duplicate_sets: list[np.ndarray]) -> int:
    """Rows a deduplicator would drop given Datalab's ``near_duplicate_sets`` (row i's list of
    near-duplicates): members of a connected group beyond the one kept per group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(near_duplicate_sets)
    heads = np.repeat(np.arange(n), [len(s) for s in near_duplicate_sets])
    tails = np.concatenate([np.asarray(s, dtype=np.int64) for s in near_duplicate_sets]) if n else heads
    graph = coo_matrix((np.ones(len(heads)), (heads, tails)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members = np.unique(np.concatenate([heads, tails]))
    return len(members) - len(np.unique(component[members]))


def run_datalab(geometry: Geometry) -> ToolResult:
    """Datalab's label, outlier and near-duplicate checks on the features, timed end to end."""
    from cleanlab import Datalab

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lab = Datalab(data={"label": geometry.labels}, label_name="label", verbosity=0)
        lab.find_issues(features=geometry.features, issue_types={"label": {}, "outlier": {}, "near_duplicate": {}})
        label = lab.get_issues("label")
        duplicate = lab.get_issues("near_duplicate")
        outlier = lab.get_issues("outlier")
    seconds = time.perf_counter() - started
    n = len(geometry.labels)
    flagged = label["is_label_issue"].to_numpy(dtype=bool)
    suggested = label["predicted_label"].to_numpy(dtype=np.int64)
    return ToolResult(
        tool="Datalab",
        relabel_to=np.where(flagged & (suggested != geometry.labels), suggested, -1),
        queue_size=int(
            (
                flagged
                | duplicate["is_near_duplicate_issue"].to_numpy(dtype=bool)
                | outlier["is_outlier_issue"].to_numpy(dtype=bool)
            ).sum()
        ),
        is_label_issue=label["is_label_issue"].to_numpy(dtype=bool),
        in_duplicate_group=duplicate["is_near_duplicate_issue"].to_numpy(dtype=bool),
        outlier_score=outlier["outlier_score"].to_numpy(dtype=np.float64),
        rates={
            "label_issue_rate": float(label["is_label_issue"].mean()),
            "duplicate_rate": redundant_members(list(duplicate["near_duplicate_sets"])) / n,
            "outlier_rate": float(outlier["is_outlier_issue"].mean()),
        },
        seconds=seconds,
        # Library deprecation chatter (pandas' "inplace" keyword and the like) says nothing about the data.
        notes={
            "warnings": sorted(
                {
                    str(w.message).splitlines()[0]
                    for w in caught
                    if not issubclass(w.category, (DeprecationWarning, FutureWarning))
                }
            )
        },
    )


def run_expert(geometry: Geometry, seed: int) -> list[ToolResult]:
    """The expert recipe (:mod:`tests.bench.expert`), both strengths: cleanlab's
    ``find_label_issues`` on 5-fold out-of-fold logistic-regression probabilities."""
    from tests.bench.expert import run_recipe

    results = []
    for run in run_recipe(geometry.features, geometry.labels, seed=seed):
        suggested = run.pred_probs.argmax(axis=1)
        results.append(
            ToolResult(
                tool=run.name,
                is_label_issue=run.is_label_issue,
                in_duplicate_group=np.zeros(len(geometry.labels), dtype=bool),
                outlier_score=np.ones(len(geometry.labels)),
                rates={
                    "label_issue_rate": float(run.is_label_issue.mean()),
                    "duplicate_rate": None,
                    "outlier_rate": None,
                },
                seconds=run.seconds,
                relabel_to=np.where(run.is_label_issue & (suggested != geometry.labels), suggested, -1),
                queue_size=int(run.is_label_issue.sum()),
            )
        )
    return results


def tail_classes(geometry: Geometry) -> np.ndarray:
    """The min(10, ceil(K/2)) smallest classes by given-label count over non-outlier rows; (T,) int64."""
    num_classes = len(geometry.class_names)
    counts = np.bincount(geometry.labels[~geometry.is_outlier], minlength=num_classes)
    return np.argsort(counts, kind="stable")[: min(10, math.ceil(num_classes / 2))]


def measure(geometry: Geometry, result: ToolResult) -> dict[str, Any]:
    """A tool's quality against the planted truth (see the module docstring)."""
    from sklearn.metrics import roc_auc_score

    labelled = ~geometry.is_outlier  # an outlier's label is not wrong, it has no right one
    tail = labelled & np.isin(geometry.labels, tail_classes(geometry))
    label_p, label_r, label_f1 = prf(result.is_label_issue[labelled], geometry.is_noisy[labelled])
    tail_p, tail_r, tail_f1 = prf(result.is_label_issue[tail], geometry.is_noisy[tail])
    return {
        "tool": result.tool,
        "label_precision": label_p,
        "label_recall": label_r,
        "label_f1": label_f1,
        "tail_precision": tail_p,
        "tail_recall": tail_r,
        "tail_f1": tail_f1,
        "duplicate_f1": prf(result.in_duplicate_group, geometry.duplicate_group >= 0)[2],
        "outlier_auroc": float(roc_auc_score(geometry.is_outlier, 1 - result.outlier_score)),
        "rates": result.rates,
        "seconds": result.seconds,
        "notes": result.notes,
        **relabel_measures(geometry, result),
    }


def planted_problems(geometry: Geometry) -> int:
    """Rows a person should be shown: wrong labels, outliers and redundant copies."""
    return int(geometry.is_noisy.sum() + geometry.is_outlier.sum() + geometry.num_copies)


#: Neighbours of the clean-label vote that tells a wrong relabel the features cannot avoid
#: (:func:`truth_disagrees`).
TRUTH_VOTE_K = 10


def truth_disagrees(geometry: Geometry, rows: np.ndarray, classes: np.ndarray) -> int:
    """How many of ``rows`` the *true* labels of their :data:`TRUTH_VOTE_K` nearest neighbours
    (Euclidean, the features as given, the row itself left out) also put in ``classes``: wrong
    relabels that a vote knowing every clean label makes too, so no method judging by the
    features could have avoided them (the geometry's own class overlap, not the tool's error)."""
    if len(rows) == 0:
        return 0
    from sklearn.neighbors import NearestNeighbors

    k = min(TRUTH_VOTE_K + 1, len(geometry.labels))
    index = NearestNeighbors(n_neighbors=k).fit(geometry.features)
    _, neighbours = index.kneighbors(geometry.features[rows])
    count = 0
    for row, cls, near in zip(rows, classes, neighbours):
        votes = np.bincount(geometry.true_labels[near[near != row]], minlength=int(cls) + 1)
        count += int(votes.argmax() == cls)
    return count


def relabel_measures(geometry: Geometry, result: ToolResult) -> dict[str, Any]:
    """How many labels the tool changes and how many of those are right (the true class), how
    many of the wrong ones the clean labels' neighbour vote makes too (:func:`truth_disagrees`),
    its queue (relabels + reviews) against the planted problems, and its own evidence reading."""
    relabelled = result.relabel_to >= 0 if result.relabel_to is not None else np.zeros(0, dtype=bool)
    count = int(relabelled.sum())
    wrong = np.flatnonzero(relabelled & (result.relabel_to != geometry.true_labels)) if count else np.zeros(0, int)
    return {
        "relabels": count,
        "relabel_precision": (count - len(wrong)) / count if count else None,
        "relabels_wrong": float(len(wrong)),
        "relabels_wrong_unavoidable": float(truth_disagrees(geometry, wrong, result.relabel_to[wrong])),
        "queue_size": result.queue_size,
        "queue_ratio": None if result.queue_size is None else result.queue_size / planted_problems(geometry),
        "label_evidence": result.label_evidence,
    }


#: Resamples of the paired bootstrap of the label-F1 difference (see :func:`paired_f1_interval`).
BOOTSTRAP_RESAMPLES = 2000


def paired_f1_interval(
    flags_a: np.ndarray, flags_b: np.ndarray, truth: np.ndarray, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of ``F1(flags_a) - F1(flags_b)`` against ``truth`` ((n,) bool each), by a
    paired bootstrap over rows: both tools are re-scored on the same resampled rows, so what the
    interval shows is how much the difference owes to which rows a geometry happened to draw. On
    a 142-row table one flag moves F1 by ~0.03; a difference inside its interval's reach of 0 is
    not evidence either way."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    a, b, t = (np.asarray(x, dtype=bool) for x in (flags_a, flags_b, truth))
    diffs = np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, n, size=n)
        diffs[i] = prf(a[rows], t[rows])[2] - prf(b[rows], t[rows])[2]
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(low), float(high)


def f1_intervals(geometry: Geometry, curate: ToolResult, datalab: ToolResult) -> dict[str, tuple[float, float]]:
    """Paired-bootstrap 95 % intervals of curate's minus another tool's (Datalab's, the expert
    recipe's) label F1, overall and on the smallest classes (the rows :func:`measure` scores)."""
    labelled = ~geometry.is_outlier
    tail = labelled & np.isin(geometry.labels, tail_classes(geometry))
    return {
        key: paired_f1_interval(curate.is_label_issue[rows], datalab.is_label_issue[rows], geometry.is_noisy[rows])
        for key, rows in (("label_f1", labelled), ("tail_f1", tail))
    }


def warm_up() -> None:
    """Run both tools once on the smallest geometry, untimed, so that no geometry's clock pays
    for imports (matplotlib, pandas, datasets) or first-call set-up."""
    tiny = GEOMETRIES["wine"](0)
    with tempfile.TemporaryDirectory(prefix="curate-geometries-") as tmp:
        run_curate(tiny, Path(tmp))
    run_datalab(tiny)


def bench(name: str, seed: int) -> dict[str, Any]:
    """Build one geometry and run both tools on it; the raw numbers of one table block."""
    started = time.perf_counter()
    geometry = GEOMETRIES[name](seed)
    build_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="curate-geometries-") as tmp:
        curate = run_curate(geometry, Path(tmp))
    datalab = run_datalab(geometry)
    expert_runs = run_expert(geometry, seed)
    experts = [measure(geometry, r) for r in expert_runs]
    # the better of the two strengths is the reference (the expert gets the benefit of the doubt)
    best = max(range(len(experts)), key=lambda i: experts[i]["label_f1"])
    expert = experts[best]
    labelled = ~geometry.is_outlier
    tail = labelled & np.isin(geometry.labels, tail_classes(geometry))
    return {
        "geometry": name,
        "extractor": geometry.extractor,
        "n": len(geometry.labels),
        "dim": geometry.features.shape[1],
        "classes": len(geometry.class_names),
        "imbalance_ratio": geometry.imbalance_ratio,
        "nearest_neighbour_cosine": median_nearest_neighbour_cosine(geometry.features.astype(np.float64)),
        "planted": geometry.planted_rates,
        "build_seconds": build_seconds,
        "tools": [
            measure(geometry, curate),
            measure(geometry, datalab),
            {**expert, "tool": "expert", "strength": expert["tool"]},
        ],
        "experts": experts,
        "difference_interval": f1_intervals(geometry, curate, datalab),
        "expert_interval": f1_intervals(geometry, curate, expert_runs[best]),
        # the rows both F1s are scored on, so that several seeds' intervals can be pooled
        "expert_rows": {
            key: {
                "curate": curate.is_label_issue[rows].tolist(),
                "expert": expert_runs[best].is_label_issue[rows].tolist(),
                "truth": geometry.is_noisy[rows].tolist(),
            }
            for key, rows in (("label_f1", labelled), ("tail_f1", tail))
        },
    }


def _rate_cell(reported: float | None, planted: float) -> str:
    shown = "null" if reported is None else f"{reported:.3f}"
    return f"{shown} ({planted:.3f})"


def print_table(blocks: list[dict[str, Any]]) -> None:
    """One Markdown table: curate and Datalab rows per geometry, then curate minus Datalab."""
    print(
        "| geometry | N x D, K | NN cos | tool | label P | label R | label F1 | tail F1 | dup F1 "
        "| outlier AUROC | label rate (planted) | dup rate (planted) | outlier rate (planted) | wall s |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for block in blocks:
        shape = f"{block['n']} x {block['dim']}, {block['classes']}"
        for tool in block["tools"]:
            rates = [_rate_cell(tool["rates"][name], block["planted"][name]) for name in RATE_NAMES]
            print(
                f"| {block['geometry']} | {shape} | {block['nearest_neighbour_cosine']:.3f} | {tool['tool']} "
                f"| {tool['label_precision']:.3f} | {tool['label_recall']:.3f} | {tool['label_f1']:.3f} "
                f"| {tool['tail_f1']:.3f} | {tool['duplicate_f1']:.3f} | {tool['outlier_auroc']:.3f} "
                f"| {' | '.join(rates)} | {tool['seconds']:.1f} |"
            )
        cur, dl = block["tools"][:2]
        deltas = [
            f"{cur[key] - dl[key]:+.3f}"
            for key in ("label_precision", "label_recall", "label_f1", "tail_f1", "duplicate_f1", "outlier_auroc")
        ]
        print(
            f"| {block['geometry']} | | | curate − Datalab | {' | '.join(deltas)} | | | "
            f"| {cur['seconds'] / dl['seconds']:.2f}x |"
        )


#: The bar of the geometry benchmark: label and duplicate F1 at least Datalab's, outlier AUROC at
#: most this far below it; on the synthetic spaces label F1 (overall and tail) this far above it.
AUROC_SLACK = 0.01
SYNTH_MARGIN = 0.05


def bar_of(block: dict[str, Any]) -> dict[str, float]:
    """The least curate-minus-Datalab difference the bar accepts, per measure of ``block``'s
    geometry (see :data:`AUROC_SLACK`, :data:`SYNTH_MARGIN`)."""
    margin = SYNTH_MARGIN if block["geometry"].startswith("synth") else 0.0
    return {"label_f1": margin, "tail_f1": margin, "duplicate_f1": 0.0, "outlier_auroc": -AUROC_SLACK}


def bar_misses(block: dict[str, Any]) -> dict[str, bool]:
    """Which of curate's cells miss the bar (:func:`bar_of`)."""
    cur, dl = block["tools"][:2]
    return {key: cur[key] < dl[key] + least - 1e-9 for key, least in bar_of(block).items()}


def print_bar(blocks: list[dict[str, Any]]) -> None:
    """The bar, one row per geometry: curate / Datalab (difference) per measure, **✗** where curate
    misses it; the duplicate rate next to the planted one."""
    print()
    print(
        "| geometry | NN cos | label F1 curate / Datalab | tail F1 | dup F1 | outlier AUROC "
        "| dup rate curate (planted) | outlier rate curate / Datalab (planted) |"
    )
    print("|---|---:|---|---|---|---|---|---|")
    for block in blocks:
        cur, dl = block["tools"][:2]
        misses = bar_misses(block)
        cells = [
            f"{cur[key]:.3f} / {dl[key]:.3f} ({cur[key] - dl[key]:+.3f})" + (" **✗**" if misses[key] else "")
            for key in ("label_f1", "tail_f1", "duplicate_f1", "outlier_auroc")
        ]
        planted = block["planted"]
        print(
            f"| {block['geometry']} | {block['nearest_neighbour_cosine']:.3f} | {' | '.join(cells)} "
            f"| {_rate_cell(cur['rates']['duplicate_rate'], planted['duplicate_rate'])} "
            f"| {cur['rates']['outlier_rate']:.3f} / {dl['rates']['outlier_rate']:.3f} ({planted['outlier_rate']:.3f}) |"
        )
    missed = sum(any(bar_misses(block).values()) for block in blocks)
    print(f"\n{len(blocks) - missed} of {len(blocks)} geometries meet the bar.")


#: The judgement bar (label evidence, the expert recipe): curate's relabels right at least this
#: share where the classes separate (NN vote evidence not weak), :data:`WEAK_RELABEL_PRECISION`
#: where they do not; its relabel + review queue at most :data:`QUEUE_RATIO` x the planted
#: problems; label and tail F1 at least the expert recipe's.
RELABEL_PRECISION = 0.95
WEAK_RELABEL_PRECISION = 0.90
QUEUE_RATIO = 2.0


def judgement_misses(block: dict[str, Any]) -> dict[str, bool]:
    """Which of curate's judgement cells miss the bar (see :data:`RELABEL_PRECISION`)."""
    from curate.config import WEAK_LABEL_EVIDENCE

    cur, dl, ex = block["tools"][:3]
    separable = cur["label_evidence"] is not None and cur["label_evidence"] >= WEAK_LABEL_EVIDENCE
    precision = RELABEL_PRECISION if separable else WEAK_RELABEL_PRECISION
    return {
        "relabel_precision": cur["relabel_precision"] is not None and cur["relabel_precision"] < precision - 1e-9,
        "queue_ratio": cur["queue_ratio"] > QUEUE_RATIO + 1e-9,
        "label_f1": cur["label_f1"] < ex["label_f1"] - 1e-9,
        "tail_f1": cur["tail_f1"] < ex["tail_f1"] - 1e-9,
    }


def print_judgement(blocks: list[dict[str, Any]]) -> None:
    """The judgement, one row per geometry: curate's own evidence reading; relabels (how many,
    share right) and queue size over the planted problems for curate / Datalab / the expert recipe
    (Datalab and the expert relabel every flagged row to their suggestion, and queue every flag);
    label and tail F1 for curate / the expert recipe (the better strength); **✗** where curate
    misses the bar (:func:`judgement_misses`)."""
    print()
    print(
        "| geometry | evidence (curate) | relabels right curate / Datalab / expert | queue / planted curate / Datalab / expert "
        "| label F1 curate / Datalab / expert | tail F1 curate / expert | expert strength |"
    )
    print("|---|---:|---|---|---|---|---|")

    def share(tool: dict[str, Any]) -> str:
        shown = "—" if tool["relabel_precision"] is None else f"{tool['relabel_precision']:.2f}"
        wrong, unavoidable = tool.get("relabels_wrong"), tool.get("relabels_wrong_unavoidable")
        if not wrong:
            return f"{shown} ({tool['relabels']:.0f})"
        return f"{shown} ({tool['relabels']:.0f}; wrong {wrong:.1f}, {unavoidable:.1f} unavoidable)"

    for block in blocks:
        cur, dl, ex = block["tools"][:3]
        miss = judgement_misses(block)

        def mark(key: str, miss: dict[str, bool] = miss) -> str:
            return " **✗**" if miss[key] else ""

        evidence = "—" if cur["label_evidence"] is None else f"{cur['label_evidence']:.2f}"
        print(
            f"| {block['geometry']} | {evidence} | {share(cur)}{mark('relabel_precision')} / {share(dl)} / {share(ex)} "
            f"| {cur['queue_ratio']:.2f}{mark('queue_ratio')} / {dl['queue_ratio']:.2f} / {ex['queue_ratio']:.2f} "
            f"| {cur['label_f1']:.3f} / {dl['label_f1']:.3f} / {ex['label_f1']:.3f} ({cur['label_f1'] - ex['label_f1']:+.3f}){mark('label_f1')} "
            f"| {cur['tail_f1']:.3f} / {ex['tail_f1']:.3f} ({cur['tail_f1'] - ex['tail_f1']:+.3f}){mark('tail_f1')} "
            f"| {ex.get('strength', '')} |"
        )
    mean_cur = float(np.mean([b["tools"][0]["label_f1"] for b in blocks]))
    mean_ex = float(np.mean([b["tools"][2]["label_f1"] for b in blocks]))
    tail_cur = float(np.mean([b["tools"][0]["tail_f1"] for b in blocks]))
    tail_ex = float(np.mean([b["tools"][2]["tail_f1"] for b in blocks]))
    missed = sum(any(judgement_misses(block).values()) for block in blocks)
    print(
        f"\nMean label F1 curate {mean_cur:.3f} vs expert {mean_ex:.3f} ({mean_cur - mean_ex:+.3f}); "
        f"tail {tail_cur:.3f} vs {tail_ex:.3f} ({tail_cur - tail_ex:+.3f}). "
        f"{len(blocks) - missed} of {len(blocks)} geometries meet the judgement bar."
    )


#: The measures averaged over seeds by :func:`mean_block`.
MEASURES = ("label_precision", "label_recall", "label_f1", "tail_f1", "duplicate_f1", "outlier_auroc", "seconds")
#: Judgement measures, averaged over the seeds that have them (a seed may relabel nothing).
SPARSE_MEASURES = (
    "relabels",
    "relabel_precision",
    "relabels_wrong",
    "relabels_wrong_unavoidable",
    "queue_size",
    "queue_ratio",
    "label_evidence",
)


def mean_block(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """One geometry's blocks from several seeds folded into one block of the same shape (so
    :func:`bar_misses` and :func:`print_bar` take it): each tool's measures and rates, the planted
    rates and the nearest-neighbour cosine averaged over the seeds."""
    first = blocks[0]

    def mean(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else float(np.mean(values))

    tools = []
    for t, tool in enumerate(first["tools"]):
        runs = [block["tools"][t] for block in blocks]
        averaged = {key: mean([run[key] for run in runs]) for key in MEASURES}
        for key in SPARSE_MEASURES:
            present = [run[key] for run in runs if run.get(key) is not None]
            averaged[key] = float(np.mean(present)) if present else None
        averaged["rates"] = {name: mean([run["rates"][name] for run in runs]) for name in RATE_NAMES}
        tools.append({"tool": tool["tool"], **averaged, "strength": tool.get("strength", "")})
    return {
        "geometry": first["geometry"],
        "extractor": first["extractor"],
        "n": first["n"],
        "dim": first["dim"],
        "classes": first["classes"],
        "nearest_neighbour_cosine": float(np.mean([b["nearest_neighbour_cosine"] for b in blocks])),
        "planted": {name: float(np.mean([b["planted"][name] for b in blocks])) for name in RATE_NAMES},
        "tools": tools,
    }


def print_seeds(runs: dict[int, list[dict[str, Any]]]) -> None:
    """Several seeds: the bar of each seed, the bar on the means over the seeds, every per-seed
    miss with its paired-bootstrap 95 % interval, and each geometry's duplicate rate per seed."""
    for seed, blocks in runs.items():
        print(f"\n### Seed {seed}")
        print_bar(blocks)
        print_judgement(blocks)
    seeds = list(runs)
    names = [block["geometry"] for block in runs[seeds[0]]]
    means = [mean_block([next(b for b in runs[seed] if b["geometry"] == name) for seed in seeds]) for name in names]
    print(f"\n### Mean over seeds {', '.join(map(str, seeds))}")
    print_bar(means)
    print_judgement(means)

    print("\nPer-seed misses, with the paired-bootstrap 95 % interval of curate − Datalab:\n")
    print("| seed | geometry | measure | curate / Datalab | difference | 95 % interval | bar |")
    print("|---:|---|---|---|---:|---|---:|")
    misses = 0
    for seed, blocks in runs.items():
        for block in blocks:
            cur, dl = block["tools"][:2]
            least = bar_of(block)
            for key, missed in bar_misses(block).items():
                if not missed:
                    continue
                misses += 1
                low, high = block.get("difference_interval", {}).get(key, (float("nan"), float("nan")))
                print(
                    f"| {seed} | {block['geometry']} | {key} | {cur[key]:.3f} / {dl[key]:.3f} "
                    f"| {cur[key] - dl[key]:+.3f} | {low:+.3f} .. {high:+.3f} | {least[key]:+.2f} |"
                )
    pairs = sum(len(blocks) for blocks in runs.values())
    missed_pairs = sum(any(bar_misses(block).values()) for blocks in runs.values() for block in blocks)
    print(f"\n{pairs - missed_pairs} of {pairs} geometry-seed pairs meet the bar ({misses} cells miss it).")
    print_expert_intervals(runs)

    print("\n| geometry | duplicate rate per seed, curate (planted) |")
    print("|---|---|")
    for name in names:
        cells = []
        for seed in seeds:
            block = next(b for b in runs[seed] if b["geometry"] == name)
            cells.append(_rate_cell(block["tools"][0]["rates"]["duplicate_rate"], block["planted"]["duplicate_rate"]))
        print(f"| {name} | {', '.join(cells)} |")


def print_expert_intervals(runs: dict[int, list[dict[str, Any]]]) -> None:
    """Label and tail F1 of curate minus the expert recipe (its better strength) with the paired-
    bootstrap 95 % interval: every per-seed miss, then each geometry pooled over the seeds (the
    rows of every seed resampled together, so the interval is that of the mean's evidence)."""
    print("\nAgainst the expert recipe: per-seed misses and each geometry over all seeds (rows pooled):\n")
    print("| seed | geometry | measure | curate / expert | difference | 95 % interval |")
    print("|---|---|---|---|---:|---|")
    for seed, blocks in runs.items():
        for block in blocks:
            cur, ex = block["tools"][0], block["tools"][2]
            for key in ("label_f1", "tail_f1"):
                if cur[key] < ex[key] - 1e-9:
                    low, high = block["expert_interval"][key]
                    print(
                        f"| {seed} | {block['geometry']} | {key} | {cur[key]:.3f} / {ex[key]:.3f} "
                        f"| {cur[key] - ex[key]:+.3f} | {low:+.3f} .. {high:+.3f} |"
                    )
    seeds = list(runs)
    for name in [block["geometry"] for block in runs[seeds[0]]]:
        blocks = [next(b for b in runs[seed] if b["geometry"] == name) for seed in seeds]
        for key in ("label_f1", "tail_f1"):
            a, b, t = (
                np.concatenate([np.asarray(bl["expert_rows"][key][w], dtype=bool) for bl in blocks])
                for w in ("curate", "expert", "truth")
            )
            low, high = paired_f1_interval(a, b, t)
            diff = prf(a, t)[2] - prf(b, t)[2]
            print(
                f"| all | {name} | {key} | {prf(a, t)[2]:.3f} / {prf(b, t)[2]:.3f} | {diff:+.3f} | {low:+.3f} .. {high:+.3f} |"
            )


def print_notes(blocks: list[dict[str, Any]]) -> None:
    """What each tool said about each run, below the table: curate's score parameters and notes,
    Datalab's warnings."""
    print()
    for block in blocks:
        cur, dl = block["tools"][:2]
        params = ", ".join(f"{k}={v}" for k, v in sorted(cur["notes"]["score_params"].items()) if k != "label_sources")
        said = "; ".join(
            cur["notes"]["score_notes"]
            + [f"{k}: {v}" for k, v in cur["notes"]["not_measured"].items()]
            + ([f"**{cur['notes']['crash']}**"] if cur["notes"]["crash"] else [])
        )
        print(
            f"- {block['geometry']} ({block['extractor']}): curate {params}; {said or 'no notes'}"
            + (f". Datalab warned: {'; '.join(dl['notes']['warnings'])}" if dl["notes"]["warnings"] else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only", nargs="+", choices=list(GEOMETRIES), default=None, help="geometries to run (default: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=None,
        help="several seeds: each seed's bar, the bar on the means, the per-seed misses with "
        "their bootstrap intervals (overrides --seed)",
    )
    parser.add_argument("--json", default=None, help="also write the raw numbers to this JSON file")
    parser.add_argument("--verbose", action="store_true", help="show curate's progress lines on stderr")
    args = parser.parse_args()

    from curate import progress

    progress.set_quiet(not args.verbose)
    started = time.perf_counter()
    warm_up()
    seeds = args.seeds or [args.seed]
    runs: dict[int, list[dict[str, Any]]] = {}
    for seed in seeds:
        runs[seed] = []
        for name in args.only or list(GEOMETRIES):
            runs[seed].append(bench(name, seed))
            print(f"seed {seed}: {name} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    build = sum(b["build_seconds"] for blocks in runs.values() for b in blocks)
    if len(seeds) == 1:
        blocks = runs[seeds[0]]
        print_table(blocks)
        print_bar(blocks)
        print_judgement(blocks)
        print_notes(blocks)
    else:
        print_seeds(runs)
    print(
        f"\nseed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; whole run {total:.0f} s "
        f"including building the geometries ({build:.0f} s)"
    )
    if args.json:
        record = {"seed": seeds[0], "geometries": runs[seeds[0]]} if len(seeds) == 1 else {"seeds": seeds, "runs": runs}
        Path(args.json).write_text(json.dumps({**record, "total_seconds": total}, indent=2, default=str))


if __name__ == "__main__":
    main()
