#!/usr/bin/env bash
# The one-shot GPU check (tests/bench/device_check.py prints what it measures), for a bare
# machine with torch, torchvision, pyarrow, numpy and pillow and no network:
#
#   bash tests/bench/device_check.sh [device_check.py options]
#
# What the machine lacks is installed from the wheels in $WHEELS (default tests/bench/wheels/,
# gitignored; docs/benchmarks.md says how to fill it), with pip --no-index. A missing optional
# part (Ray) is skipped with its reason, never fetched. Without CUDA the same script rehearses
# every step on the CPU, scaled down, and says which GPU figures it skipped and why.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHEELS=${WHEELS:-tests/bench/wheels}
PYTHON=${PYTHON:-python3}

have() { "$PYTHON" -c "import $1" 2>/dev/null; }
install() {  # install() PACKAGE...: from the carried wheels only
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" "$@"
    else
        echo "device_check: no wheels in $WHEELS" >&2
        return 1
    fi
}

# required: the embed stage's own dependencies beyond torch/torchvision/pyarrow/numpy/pillow
for module_package in open_clip:open_clip_torch tqdm:tqdm; do
    module=${module_package%%:*} package=${module_package#*:}
    have "$module" || install "$package" || { echo "device_check: cannot install $package from $WHEELS" >&2; exit 1; }
done
# optional: the Ray run is skipped (with its reason) when Ray cannot be installed
have ray || install "ray[data]" || echo "device_check: ray not installed from $WHEELS; the Ray run will be skipped" >&2

export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" tests/bench/device_check.py "$@"
