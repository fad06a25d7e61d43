"""Progress on stderr: a bar on a terminal, periodic log lines when stderr is a file, nothing when quiet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate import progress
from curate.cli import main

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^work: (\d+)/200 it \(\d+%\), [\d.]+ it/s, ETA \S+$")


@pytest.fixture(autouse=True)
def restore_progress():
    yield
    progress.set_quiet(False)
    progress.set_mode("auto", interval=progress.DEFAULT_LOG_INTERVAL_S)


def test_log_mode_with_stderr_redirected_to_a_file(tmp_path):
    """A real process whose stderr is a file: auto mode picks log lines, a few per run."""
    script = (
        "import time\n"
        "from curate import progress\n"
        "progress.set_mode('auto', interval=0.02)\n"
        "with progress.bar(total=200, desc='work') as p:\n"
        "    for _ in range(200):\n"
        "        time.sleep(0.001)\n"
        "        p.update(1)\n"
    )
    err = tmp_path / "stderr.txt"
    with open(err, "w") as f:
        subprocess.run([sys.executable, "-c", script], cwd=REPO, stderr=f, check=True)
    lines = err.read_text().splitlines()
    periodic = [m for m in map(LINE.match, lines[:-1]) if m]
    assert len(periodic) >= 3 and len(periodic) == len(lines) - 1, lines
    done = [int(m.group(1)) for m in periodic]
    assert done == sorted(done) and done[-1] <= 200  # the last update may fall on an interval
    assert re.match(r"^work: 200 it in \d+s, [\d.]+ it/s$", lines[-1]), lines[-1]
    assert "\r" not in err.read_text()  # plain lines, no bar redraws


def test_log_lines_say_rate_and_eta():
    ticks = iter([0.0, 1.0, 2.0, 10.0, 11.0])
    p = progress.LogProgress(100, desc="embed", unit="img", interval=5.0, clock=lambda: next(ticks))
    p.update(10)  # t=1: within the interval, no line
    assert p.lines == 0
    assert p.status(2.0) == "embed: 10/100 img (10%), 5.0 img/s, ETA 18s"
    p.update(40)  # t=2
    p.update(50)  # t=10: a line
    assert p.lines == 1
    assert progress.LogProgress(None, desc="x", unit="row", interval=1, clock=lambda: 4.0).status(6.0) == (
        "x: 0, 0.0 row/s"
    )


def test_modes():
    progress.set_mode("auto")
    assert progress.display() == "log"  # pytest captures stderr: not a terminal
    progress.set_quiet(True)
    assert progress.display() == "none"
    progress.set_mode("log")
    assert progress.display() == "log"  # --progress wins over -q
    with pytest.raises(ValueError):
        progress.set_mode("fancy")


@pytest.mark.parametrize(
    "flags, lines",
    [([], True), (["-q"], False), (["--progress", "none"], False), (["-q", "--progress", "log"], True)],
)
def test_embed_progress_option(image_workspace, tiny_clip_dir, flags, lines):
    progress.set_mode("auto", interval=0.0)  # a line per batch: the test need not wait
    result = CliRunner().invoke(
        main,
        ["embed", str(image_workspace.root), "--model", f"local-dir:{tiny_clip_dir}", "--device", "cpu"]
        + ["--workers", "0", "--batch-size", "4", *flags],
    )
    assert result.exit_code == 0, result.output
    assert ("embed: 4/13 img" in result.stderr) is lines, result.stderr
