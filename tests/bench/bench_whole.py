"""Whole processes, side by side: ``curate scan --embeddings`` against cleanlab's Datalab.

    PYTHONPATH=. python tests/bench/bench_whole.py --sizes 4000 44000 [--before PATH]

For each size, synthetic CLIP-like embeddings with known truth (``curate.synth.make_dataset``,
512 dimensions, ``--classes`` long-tailed classes) are saved as ``E.npy`` / ``L.npy``; then each
tool runs as its own Python process, start-up and imports included, the way a user meets it:

* **curate**: ``curate scan --embeddings E.npy --labels L.npy -o WS --json`` (every stage after
  embedding); its ``--json`` gives the per-stage ``timings`` (wall, CPU, peak RSS per stage);
* **curate (before)**, with ``--before PATH``: the same command run from another checkout
  (e.g. ``git worktree add /tmp/before main``), for before/after in the same conditions;
* **Datalab**: ``Datalab(...).find_issues(features=X, issue_types={label, outlier,
  near_duplicate})`` in a fresh process (its three checks; no hard negatives, plan or report).

Each process's wall time, CPU time (user + system of the child, all threads) and peak RSS are
measured from outside, and whether torch was imported (curate's process reports its
``sys.modules`` at exit). Prints a Markdown table per size (the tools, then curate's stages)
and the ratios Datalab / curate. Set ``OMP_NUM_THREADS`` the same for every run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

#: the per-stage table's rows, in chain order
CHAIN = ("import", "neighbors", "score", "negatives", "propose", "export", "report", "total")

#: runs curate's CLI and reports, on stderr, whether torch got imported
CURATE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('TORCH_IMPORTED', 'torch' in sys.modules, file=sys.stderr))\n"
    "from curate.cli import main\n"
    "main()\n"
)

DATALAB = (
    "import sys\n"
    "import numpy as np\n"
    "from cleanlab import Datalab\n"
    "X, y = np.load(sys.argv[1]), np.load(sys.argv[2])\n"
    "lab = Datalab(data={'label': y}, label_name='label', verbosity=0)\n"
    "lab.find_issues(features=X, issue_types={'label': {}, 'outlier': {}, 'near_duplicate': {}})\n"
)


def run_process(args: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Wall and CPU seconds and peak RSS (GiB) of one child process run in ``cwd`` (``python -c``
    puts its working directory first on sys.path), with its output. ``os.wait4`` gives this
    child's own resource usage (RUSAGE_CHILDREN's peak would be the largest child so far)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({child.returncode}):\n{stderr[-2000:]}")
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_gib": usage.ru_maxrss / 2**20,  # KiB on Linux
        "stdout": stdout,
        "stderr": stderr,
    }


def run_curate(root: Path, checkout: Path, env: dict[str, str], name: str) -> dict:
    ws = root / f"ws-{name}"
    env = {**env, "PYTHONPATH": str(checkout)}
    args = [sys.executable, "-c", CURATE, "scan", "--embeddings", str(root / "E.npy")]
    args += ["--labels", str(root / "L.npy"), "-o", str(ws), "--json"]
    result = run_process(args, env, checkout)
    summary = json.loads(result["stdout"])
    result["timings"] = summary.get("timings")  # None for a curate that predates them
    result["torch"] = "TORCH_IMPORTED True" in result["stderr"]
    result["label_issue_rate"] = summary.get("label_issue_rate")
    return result


def bench(n: int, classes: int, before: Path | None, env: dict[str, str]) -> dict:
    import numpy as np

    from curate.synth import make_dataset

    with tempfile.TemporaryDirectory(prefix="bench_whole_") as tmp:
        root = Path(tmp)
        synth = make_dataset(n, classes, dim=512, seed=0)
        np.save(root / "E.npy", synth.embeddings)
        np.save(root / "L.npy", synth.labels)
        here = Path(__file__).resolve().parents[2]
        results = {"curate": run_curate(root, here, env, "now")}
        if before is not None:
            results["curate (before)"] = run_curate(root, before, env, "before")
        results["Datalab"] = run_process(
            [sys.executable, "-c", DATALAB, str(root / "E.npy"), str(root / "L.npy")], env, root
        )
    return {"n": n, "classes": classes, "results": results}


def print_block(block: dict) -> None:
    results = block["results"]
    print(f"\n### {block['n']:,} x 512, {block['classes']} classes\n")
    print("| process | wall (s) | CPU (s) | peak RSS (GiB) | imports torch |")
    print("|---|---:|---:|---:|---|")
    for name, r in results.items():
        torch = "" if name == "Datalab" else ("yes" if r["torch"] else "no")
        print(f"| {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_gib']:.2f} | {torch} |")
    dl = results["Datalab"]
    for name, r in results.items():
        if name != "Datalab":
            print(
                f"| **Datalab / {name}** | **{dl['seconds'] / r['seconds']:.2f}x** "
                f"| **{dl['cpu_seconds'] / r['cpu_seconds']:.2f}x** | | |"
            )
    stages = [name for name, r in results.items() if r.get("timings")]
    if not stages:
        return
    print("\n| stage | " + " | ".join(f"{s} wall (s) | {s} CPU (s) | {s} peak (MiB)" for s in stages) + " |")
    print("|---|" + "---:|---:|---:|" * len(stages))
    names = [s for s in CHAIN if any(s in (results[r]["timings"] or {}) for r in stages)]
    for stage in names:
        cells = []
        for s in stages:
            t = results[s]["timings"].get(stage)
            cells += (
                ["", "", ""]
                if t is None
                else [f"{t['seconds']:.2f}", f"{t['cpu_seconds']:.2f}", f"{t['peak_rss_mib']:.0f}"]
            )
        print(f"| {stage} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 44000])
    parser.add_argument("--classes", type=int, default=None, help="default: 20 below 10k rows, else 100")
    parser.add_argument("--before", type=Path, default=None, help="another checkout of curate to run too")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    print(f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', '(unset)')}, load average at start {os.getloadavg()[0]:.1f}")
    blocks = []
    for n in args.sizes:
        classes = args.classes or (20 if n < 10_000 else 100)
        blocks.append(bench(n, classes, args.before, env))
        print_block(blocks[-1])
        print(f"\n(load average after: {os.getloadavg()[0]:.1f})", flush=True)
    if args.json:
        for block in blocks:
            for r in block["results"].values():
                r.pop("stdout", None), r.pop("stderr", None)
        args.json.write_text(json.dumps(blocks, indent=2))


if __name__ == "__main__":
    main()
