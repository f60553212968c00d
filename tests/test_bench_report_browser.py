"""The HTML report in headless Chromium: a screenshot shows the table, the plot, the transcripts.

Runs where a ``chromium`` binary is present (``apt-get install chromium``); CI without it skips.
The same check, documented, produced ``docs/figures/bench_crs_quick_report.png``.
"""

from __future__ import annotations

import html
import shutil
import subprocess

import numpy as np
import pytest
from bench_helpers import small_crs_config

from recoworld.bench.runner import run_suite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        check=True, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine")
def test_report_renders_tables_plots_and_transcripts_in_chromium(tmp_path):
    import matplotlib.image as mpimg

    run_suite(small_crs_config(), tmp_path / "run", progress=False)
    report = tmp_path / "run/report.html"
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1000,1400", f"--screenshot={shot}", str(report))
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[:2] == (1400, 1000)
    # the plot's coloured lines (matplotlib's default blue and orange) are on screen
    blue = np.all(np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.08, axis=-1)
    orange = np.all(np.abs(img - np.array([0xFF, 0x7F, 0x0E]) / 255) < 0.08, axis=-1)
    assert blue.sum() > 200 and orange.sum() > 200
    # the table's header row is drawn: a light-grey band (th background #f2f2f2) near the top
    grey = np.all(np.abs(img - 0xF2 / 255) < 0.01, axis=-1)
    assert grey[:400].sum() > 2000
    # the transcripts: the page the browser built holds every agent's text of session 0 ...
    dom = _chromium("--dump-dom", report.as_uri()).stdout
    for agent in ("random", "max-entropy"):
        text = (tmp_path / f"run/transcripts/Synthetic-CRS-v0_test-0_{agent}.txt").read_text()
        assert html.escape(text.split("\n", 1)[1], quote=False) in dom  # as the DOM writes it
    # ... and draws them: two transcript boxes (background #eef4fb) side by side, on a tall page
    _chromium("--window-size=1000,5000", f"--screenshot={shot}", str(report))
    img = mpimg.imread(shot)[..., :3]
    box = np.all(np.abs(img - np.array([0xEE, 0xF4, 0xFB]) / 255) < 0.01, axis=-1)
    row = box[int(np.flatnonzero(box.sum(axis=1) > 300)[0]) + 3]  # the boxes' top padding
    starts = np.flatnonzero(np.diff(row.astype(int)) == 1)
    assert len(starts) == 2 and box.sum() > 100_000
