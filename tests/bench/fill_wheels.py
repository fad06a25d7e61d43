"""Fill the wheels folder ``tests/bench/device_check.sh`` installs from on a machine without network.

    python tests/bench/fill_wheels.py [--dest tests/bench/wheels] [--ray] [--dry-run]

Walks the requirements of open_clip_torch and tqdm (and, with ``--ray``, ``ray[data]``) as
installed in *this* environment, environment markers evaluated, and downloads each package at
the version installed here with ``pip download --no-deps`` (so nothing else is resolved or
fetched). What a bare GPU machine already has is left out: torch, torchvision, numpy, pillow,
pyarrow and the CUDA libraries torch brings. Run it with the Python of a machine like the device
(same Python version and platform), e.g. the project's venv.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

#: already on the device machine (the script's premise), with what torch pulls in
PRESENT = re.compile(r"^(torch|torchvision|numpy|pillow|pyarrow|triton|nvidia-.*|cuda-.*|setuptools|pip)$")

ROOTS = ["open_clip_torch", "tqdm"]
RAY_ROOTS = ["ray[data]"]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str]) -> dict[str, str]:
    """name -> installed version of ``roots`` and everything they require here (markers applied)."""
    found: dict[str, str] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        key = _key(req.name)
        if key in found or PRESENT.match(key):
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            print(f"fill_wheels: {req.name} is not installed here; skipped", file=sys.stderr)
            continue
        found[key] = dist.version
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(sub)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", default=str(Path(__file__).parent / "wheels"))
    parser.add_argument("--ray", action="store_true", help="also ray[data] and its requirements")
    parser.add_argument("--dry-run", action="store_true", help="list the packages, download nothing")
    args = parser.parse_args()
    packages = closure(ROOTS + (RAY_ROOTS if args.ray else []))
    pins = [f"{name}=={version}" for name, version in sorted(packages.items())]
    print("\n".join(pins))
    if args.dry_run:
        return
    Path(args.dest).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", args.dest, *pins],
        check=True,
    )
    size = sum(p.stat().st_size for p in Path(args.dest).glob("*.whl"))
    print(f"fill_wheels: {len(pins)} wheels, {size / 2**20:.1f} MiB in {args.dest}")


if __name__ == "__main__":
    main()
