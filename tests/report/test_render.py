"""Render report.html in headless Chromium and check a person would see something."""

import subprocess

import numpy as np
import pytest
from PIL import Image

from curate.report.stage import run_report
from tests.report.chromium import CHROMIUM, SKIP_REASON, chromium_command


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_page_renders_non_blank_in_headless_chromium(report_image_ws, tmp_path):
    page = run_report(report_image_ws)["report"]
    shot = tmp_path / "report.png"
    cmd = chromium_command(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", f"file://{page}")
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert img.shape == (2000, 1280)
    assert img.std() > 20
    # below the dark header: cards, text and charts, not an empty page
    body = img[300:]
    non_white = (body < 235).mean()
    assert 0.03 < non_white < 0.8, non_white
