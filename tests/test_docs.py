"""The guides exist, link to files that exist, and the environment reference covers every id."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from recoworld.registration import all_ids

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = ("quickstart.md", "environments.md", "custom_user.md", "own_dataset.md",
          "off_policy_evaluation.md", "benchmarks.md")


@pytest.mark.parametrize("name", GUIDES)
def test_guide_exists_and_its_links_resolve(name):
    text = (DOCS / name).read_text()
    assert text.startswith("# ")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if target.startswith("http"):
            continue
        assert (DOCS / target).exists(), f"{name} links to missing {target}"


def test_environment_reference_covers_every_id_and_class():
    text = (DOCS / "environments.md").read_text()
    for env_id in all_ids():
        assert f"`{env_id}`" in text, f"{env_id} is missing from docs/environments.md"
    builder = runpy.run_path(str(DOCS / "build_env_reference.py"))
    for path in builder["CLASSES"]:
        assert f"## `{path.replace(':', '.')}`" in text
    rendered = builder["render"]()
    # every section heading the docstrings have today is on the page (regenerate if this fails)
    for heading in re.findall(r"^#+ .*$", rendered, flags=re.MULTILINE):
        assert heading in text, f"docs/environments.md is stale: run docs/build_env_reference.py ({heading})"


def test_custom_user_guide_examples_run(capsys):
    """The worked examples of docs/custom_user.md (a new feed part, a whole feed user model) run
    as written and print the figures the guide shows."""
    text = (DOCS / "custom_user.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        exec(compile(block, f"custom_user.md[python block {i}]", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    for line in out.strip().splitlines():  # every printed line appears in the guide's output
        assert line.strip() in text, f"docs/custom_user.md shows other figures than {line!r}"
