"""The documentation site (guides and the API reference built from the docstrings) builds under
``mkdocs build --strict``: a docstring the reference cannot render, a broken link or a page left
out of the navigation fails here, so the reference cannot rot."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, (
        "mkdocs build --strict failed (install the dev extra: ./scripts/setup):\n"
        + proc.stdout + proc.stderr
    )
    return out


def test_every_public_estimator_has_a_reference_entry(site):
    import recoworld.estimators as est

    pages = "".join(p.read_text() for p in (site / "reference" / "estimators").rglob("*.html"))
    for name in est.__all__:
        obj = getattr(est, name)
        if not hasattr(obj, "__module__") or getattr(obj, "__name__", name) != name:
            continue  # the short aliases (IPS = InverseProbabilityWeighting, ...)
        assert f'id="{obj.__module__}.{name}"' in pages, f"{name} has no entry in the reference"


@pytest.mark.parametrize(
    ("page", "formula"),
    [
        ("ope_bandit", "V_IPS = (1/n) sum_i min(w_i, clip) r_i"),
        ("ope_bandit", "V_DR = (1/n) sum_i [ v(x_i) + min(w_i, clip) (r_i - q(x_i, a_i)) ]"),
        ("ope_sequential", "V_PDIS = (1/n) sum_i sum_t gamma^t w_t r_t"),
        ("rating_error", "E_IPS = (1 / (U * I)) sum_{O=1} e / P"),
    ],
)
def test_the_reference_shows_the_estimators_formulas(site, page, formula):
    html = (site / "reference" / "estimators" / page / "index.html").read_text()
    assert formula in html.replace("&gt;", ">").replace("&lt;", "<")


def test_every_estimator_module_is_in_the_reference():
    """A new module of recoworld.estimators gets its reference page (and a place in mkdocs.yml)."""
    nav = (ROOT / "mkdocs.yml").read_text()
    for path in sorted((ROOT / "recoworld" / "estimators").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        importlib.import_module(f"recoworld.estimators.{path.stem}")
        assert f"reference/estimators/{path.stem}.md" in nav, f"{path.stem} is not in mkdocs.yml"
