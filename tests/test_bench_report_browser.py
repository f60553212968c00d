"""The HTML report as headless Chromium renders it: tables, plots, transcripts, no console errors.

Chromium is Debian's ``chromium`` package, which ``scripts/setup`` installs when it is missing (as
root, as in CI), so this test runs on every submission; without a ``chromium`` binary it fails
rather than skips. The page is driven over the DevTools protocol (:mod:`chromium_page`). The same
check, documented, produced ``docs/figures/bench_crs_quick_report.png``.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from bench_helpers import small_crs_config
from chromium_page import CHROMIUM, render

from recoworld.bench.runner import run_suite


@pytest.fixture(scope="module", autouse=True)
def _chromium_present() -> None:
    if CHROMIUM is None:
        pytest.fail(
            "no chromium binary: run scripts/setup as root (it installs Debian's chromium), "
            "or `apt-get install chromium`"
        )


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _markdown_rows(text: str) -> list[list[str]]:
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return [r for r in rows if not all(set(c) <= {"-"} for c in r)]  # drop the |---| rule


def test_report_renders_tables_plots_and_transcripts_in_chromium(tmp_path):
    import matplotlib.image as mpimg

    run = tmp_path / "run"
    run_suite(small_crs_config(), run, progress=False)
    page = render((run / "report.html").as_uri())

    assert page.errors == []
    assert page.title == "small crs"
    # the results table shows exactly the cells of table.md: a header and one row per agent
    results = page.tables[0]
    assert results["rows"] == _markdown_rows((run / "table.md").read_text(encoding="utf-8"))
    assert sorted(r[1] for r in results["rows"][1:]) == ["max-entropy", "random"]
    assert results["width"] > 300 and results["height"] > 50
    # the provenance table is there too
    assert ["backend", "local"] in page.tables[1]["rows"]
    # every plot of the run is on the page, decoded at its own size and drawn
    figures = sorted((run / "figures").glob("*.png"))
    assert len(figures) >= 1 and len(page.images) == len(figures)
    sizes = sorted(_png_size(p.read_bytes()) for p in figures)
    assert sorted((i["naturalWidth"], i["naturalHeight"]) for i in page.images) == sizes
    assert all(i["complete"] and i["shownWidth"] > 100 for i in page.images)

    img = mpimg.imread(io.BytesIO(page.screenshot), format="png")[..., :3]
    assert img.shape[:2] == (1400, 1000)
    # the plot's coloured lines (matplotlib's default blue and orange) are on screen
    blue = np.all(np.abs(img - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.08, axis=-1)
    orange = np.all(np.abs(img - np.array([0xFF, 0x7F, 0x0E]) / 255) < 0.08, axis=-1)
    assert blue.sum() > 200 and orange.sum() > 200
    # the table's header row is drawn: a light-grey band (th background #f2f2f2) near the top
    grey = np.all(np.abs(img - 0xF2 / 255) < 0.01, axis=-1)
    assert grey[:400].sum() > 2000
    # the transcripts: every agent's text of session 0 is on the page, in its own box, and the
    # agents' boxes of that session stand side by side (same top, different left)
    boxes = []
    for agent in ("random", "max-entropy"):
        text = (run / f"transcripts/Synthetic-CRS-v0_test-0_{agent}.txt").read_text(encoding="utf-8")
        body = text.split("\n", 1)[1].strip()
        hits = [t for t in page.transcripts if body in t["text"]]
        assert len(hits) == 1, agent
        assert hits[0]["width"] > 100 and hits[0]["height"] > 50
        boxes.append(hits[0])
    assert boxes[0]["top"] == boxes[1]["top"] and boxes[0]["left"] != boxes[1]["left"]


def test_the_browser_check_sees_a_broken_image_and_console_errors(tmp_path):
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        "<table><tr><th>a</th></tr><tr><td>1</td></tr></table>"
        '<img alt="truncated" src="data:image/png;base64,iVBORw0KGgo=">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    page = render(page_file.as_uri())
    assert page.tables[0]["rows"] == [["a"], ["1"]]
    assert [(i["alt"], i["naturalWidth"]) for i in page.images] == [("truncated", 0)]
    assert len(page.errors) == 2
    assert page.errors[0] == "console.error: boom"
    assert "undefinedFunction is not defined" in page.errors[1]
