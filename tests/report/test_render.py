"""Render report.html in headless Chromium and check a person would see something."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from curate.report.stage import run_report

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (CI installs Debian's `chromium`)")
def test_page_renders_non_blank_in_headless_chromium(report_image_ws, tmp_path):
    page = run_report(report_image_ws)["report"]
    shot = tmp_path / "report.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        f"file://{page}",
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape == (2000, 1280)
    assert img.std() > 20
    # below the dark header: cards, text and charts, not an empty page
    body = img[300:]
    non_white = (body < 235).mean()
    assert 0.03 < non_white < 0.8, non_white
