"""A scan of embeddings on a CPU never imports torch: nothing after embed needs it there, and its
import alone (2-5 s) cost more than the whole work on a few thousand rows. Nor sklearn's k-means
or cleanlab (~0.3 and 1 s of imports at 4k rows, for work numpy does). (The report's 2-D map
still imports sklearn for its PCA / t-SNE.)"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from curate.device import GPU_DRIVER_FILES
from curate.synth import make_dataset

SCAN = (
    "import sys\n"
    "from curate.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exit:\n"
    "    assert not exit.code, exit.code\n"
    "print('TORCH', 'torch' in sys.modules)\n"
    "print('UNUSED', sorted(m for m in ('sklearn.cluster', 'cleanlab') if m in sys.modules))\n"
)


#: the fresh process below can tell there is no GPU without torch (this one may have imported it)
NO_GPU = sys.platform.startswith("linux") and not any(os.path.exists(path) for path in GPU_DRIVER_FILES)


@pytest.mark.skipif(not NO_GPU, reason="a GPU driver (or not Linux): auto may pick a GPU, which needs torch")
def test_a_scan_of_embeddings_imports_no_torch(tmp_path):
    ds = make_dataset(600, 6, dim=32, seed=0)
    np.save(tmp_path / "e.npy", ds.embeddings)
    np.save(tmp_path / "l.npy", ds.labels)
    args = ["scan", "--embeddings", str(tmp_path / "e.npy"), "--labels", str(tmp_path / "l.npy")]
    done = subprocess.run(
        [sys.executable, "-c", SCAN, *args, "-o", str(tmp_path / "ws")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-2:] == ["TORCH False", "UNUSED []"]
    assert (tmp_path / "ws" / "report.html").is_file()
