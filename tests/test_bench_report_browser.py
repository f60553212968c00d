"""The HTML report in headless Chromium: a screenshot shows the table and the plot.

Runs where a ``chromium`` binary is present (``apt-get install chromium``); CI without it skips.
The same check, documented, produced ``docs/figures/bench_crs_quick_report.png``.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from bench_helpers import small_crs_config

from recoworld.bench.runner import run_suite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_report_renders_tables_and_plots_in_chromium(tmp_path):
    import matplotlib.image as mpimg

    run_suite(small_crs_config(), tmp_path / "run", progress=False)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1000,1400", f"--screenshot={shot}", str(tmp_path / "run/report.html")],
        check=True, capture_output=True, timeout=120,
    )
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (1400, 1000)
    # the plot's coloured lines (matplotlib's default blue and orange) are on screen
    blue = np.all(np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.08, axis=-1)
    orange = np.all(np.abs(img - np.array([0xFF, 0x7F, 0x0E]) / 255) < 0.08, axis=-1)
    assert blue.sum() > 200 and orange.sum() > 200
    # the table's header row is drawn: a light-grey band (th background #f2f2f2) near the top
    grey = np.all(np.abs(img - 0xF2 / 255) < 0.01, axis=-1)
    assert grey[:400].sum() > 2000
