"""Label noise: curate's ``score_label_noise`` vs cleanlab ``Datalab`` on the same embeddings.

    PYTHONPATH=. python tests/bench/bench_noise.py --sizes 20000 150000

Data: ``curate.synth.make_dataset`` (D=512, long-tailed, sub-clusters, confusable class pairs,
~15 % class-conditional label noise, near/exact duplicates, outliers); ground truth is the
generator's ``is_noisy``. Datalab gets exactly what its docs show for features only:
``Datalab(data={"label": labels}, label_name="label").find_issues(features=X,
issue_types={"label": {}})``. curate is timed twice: the scorer given the neighbour graph (how
the pipeline runs it: the neighbours stage computes that graph once for every check), and
end to end including its own exact kNN search.

Beside Datalab, up to ``--expert-max-n`` rows (default 20,000: above it the inner
cross-validation's ~80 logistic-regression fits per size cost tens of minutes on this CPU), **the
expert recipe** (:mod:`tests.bench.expert`): cleanlab's ``find_label_issues`` on 5-fold
out-of-fold logistic-regression probabilities of the same embeddings, ``C = 10`` and ``C`` by
inner cross-validation; the better of the two by label F1 is the reference. Prints one Markdown
table, then curate minus that reference (label and tail F1) with the paired-bootstrap 95 %
interval of the difference (``bench_geometries.paired_f1_interval``): a gap whose interval
reaches 0 is not evidence either way.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from curate.data import Embedded
from curate.graph.neighbors import exact_knn
from curate.score.noise import score_label_noise
from curate.score.noise.score import DEFAULT_VOTE_K
from curate.synth import make_dataset

CLASSES_FOR_SIZE = {20_000: 100, 150_000: 500}


def prf(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((pred & truth).sum())
    precision = tp / max(int(pred.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-12)


def run_datalab(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from cleanlab import Datalab

    lab = Datalab(data={"label": labels}, label_name="label", verbosity=0)
    lab.find_issues(features=features, issue_types={"label": {}})
    return lab.get_issues("label")["is_label_issue"].to_numpy()


def bench(n: int, seed: int, *, expert: bool = True) -> list[dict]:
    import cleanlab.filter  # noqa: F401  imports are paid before any clock starts, for both tools
    from cleanlab import Datalab  # noqa: F401
    from cleanlab.datalab.datalab import Datalab as _  # noqa: F401

    num_classes = CLASSES_FOR_SIZE.get(n, max(10, n // 300))
    ds = make_dataset(n, num_classes, dim=512, seed=seed)
    data = Embedded(
        sample_ids=np.arange(n).astype(str).astype(object),
        embeddings=ds.embeddings,
        labels=ds.labels,
        class_names=ds.class_names,
        text_embeddings=ds.text_embeddings,
    )
    counts = np.bincount(ds.labels, minlength=num_classes)
    tail = np.isin(ds.labels, np.argsort(counts, kind="stable")[:10])

    t0 = time.perf_counter()
    graph = exact_knn(ds.embeddings, DEFAULT_VOTE_K)
    t_graph = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = score_label_noise(data, neighbors=graph, seed=seed)
    t_score = time.perf_counter() - t0
    t0 = time.perf_counter()
    datalab = run_datalab(ds.embeddings, ds.labels)
    t_datalab = time.perf_counter() - t0

    runs = [("curate", result.is_label_issue, t_score), ("Datalab", datalab, t_datalab)]
    if expert:
        from tests.bench.expert import run_recipe

        runs += [(run.name, run.is_label_issue, run.seconds) for run in run_recipe(ds.embeddings, ds.labels, seed=seed)]
    rows = []
    for name, pred, seconds in runs:
        rows.append(
            dict(
                n=n,
                classes=num_classes,
                tool=name,
                all=prf(pred, ds.is_noisy),
                tail=prf(pred[tail], ds.is_noisy[tail]),
                seconds=seconds,
                flags=pred,
            )
        )
    rows[0]["graph_seconds"] = t_graph
    rows[0]["notes"] = result.notes
    rows[0]["truth"], rows[0]["tail_rows"] = ds.is_noisy, tail
    return rows


def print_against_expert(cur: dict, experts: list[dict]) -> None:
    """curate minus the better expert strength (by label F1), label and tail F1, with the
    paired-bootstrap 95 % interval of each difference."""
    from tests.bench.bench_geometries import paired_f1_interval

    best = max(experts, key=lambda row: row["all"][2])
    truth, tail = cur["truth"], cur["tail_rows"]
    cells = []
    for key, rows in (("label F1", slice(None)), ("tail F1", tail)):
        low, high = paired_f1_interval(cur["flags"][rows], best["flags"][rows], truth[rows])
        diff = cur["all" if key == "label F1" else "tail"][2] - best["all" if key == "label F1" else "tail"][2]
        cells.append(f"{key} {diff:+.3f} (95 % interval {low:+.3f} .. {high:+.3f})")
    print(f"<!-- n={cur['n']}: curate - {best['tool']} (the better strength): {'; '.join(cells)} -->", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--expert-max-n", type=int, default=20_000, help="run the expert recipe at sizes up to this (0: never)"
    )
    args = parser.parse_args()

    print("| N | classes | tool | P | R | F1 | tail P | tail R | tail F1 | wall s | time vs Datalab |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        cur, dl, *experts = bench(n, args.seed, expert=n <= args.expert_max_n)
        for row in (cur, dl, *experts):
            p, r, f = row["all"]
            tp, tr, tf = row["tail"]
            ratio = row["seconds"] / dl["seconds"]
            print(
                f"| {n} | {row['classes']} | {row['tool']} | {p:.3f} | {r:.3f} | {f:.3f} | {tp:.3f} | {tr:.3f} "
                f"| {tf:.3f} | {row['seconds']:.1f} | {ratio:.2f}x |"
            )
        total = cur["seconds"] + cur["graph_seconds"]
        print(
            f"| {n} | {cur['classes']} | curate incl. its own exact kNN graph | | | | | | | {total:.1f} "
            f"| {total / dl['seconds']:.2f}x |",
            flush=True,
        )
        print(f"<!-- n={n}: {'; '.join(cur['notes'])} -->", flush=True)
        if experts:
            print_against_expert(cur, experts)


if __name__ == "__main__":
    main()
