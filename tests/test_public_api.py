"""The public API: each subpackage lists its names, and imports run downward only."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recoworld"
SUBPACKAGES = ("envs", "agents", "estimators", "users", "datasets", "bench", "users.llm", "users.feed")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_public_name_imports(name):
    module = importlib.import_module(f"recoworld.{name}")
    assert module.__all__, f"recoworld.{name} lists no public name"
    assert len(set(module.__all__)) == len(module.__all__)
    for public in module.__all__:
        assert getattr(module, public) is not None, f"recoworld.{name}.{public}"


def test_documented_entry_points():
    from recoworld.agents import MaxEntropyAgent, SCPRAgent  # noqa: F401
    from recoworld.envs import ConversationalRecEnv, FeedEnv, FeedVectorEnv  # noqa: F401
    from recoworld.estimators import DR, IPS, SNIPS, BanditLog, TrajectoryLog  # noqa: F401
    from recoworld.evaluation import evaluate, evaluate_feed, hdcg  # noqa: F401
    from recoworld.users import StatisticalFeedUser, TargetItemUser  # noqa: F401

    assert IPS.__name__ == "InverseProbabilityWeighting"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("envs", ("recoworld.agents", "recoworld.bench", "recoworld.estimators", "recoworld.cli")),
        ("users", ("recoworld.envs", "recoworld.agents", "recoworld.bench", "recoworld.cli")),
        ("datasets", ("recoworld.envs", "recoworld.users", "recoworld.agents", "recoworld.bench")),
        ("estimators", ("recoworld.bench", "recoworld.cli")),
        ("agents", ("recoworld.bench", "recoworld.cli")),
    ],
)
def test_imports_run_downward(folder, forbidden):
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        bad = [m for m in _imports(path) if m.startswith(forbidden)]
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_bench_runner_and_backends_do_not_import_each_other():
    assert not any(m.endswith("ray_backend") for m in _imports(PACKAGE / "bench" / "units.py"))
    assert "recoworld.bench.runner" not in _imports(PACKAGE / "bench" / "ray_backend.py")


def test_library_modules_hold_no_command_handler():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "cli":
            continue
        text = path.read_text()
        assert "argparse" not in text, f"{path.relative_to(PACKAGE)} parses command lines"


def _snippet_imports():
    """``(where, module, names)`` of every ``from recoworld... import`` in the README's and the
    guides' Python blocks and in examples/."""
    root = PACKAGE.parent
    sources = [(p.name, p.read_text()) for p in sorted((root / "examples").glob("*.py"))]
    guides = [p for p in sorted((root / "docs").glob("*.md")) if p.name != "environments.md"]
    for md in [root / "README.md", *guides]:  # environments.md: generated signatures
        for block in re.findall(r"```python\n(.*?)```", md.read_text(), flags=re.DOTALL):
            sources.append((md.name, block))
    for where, code in sources:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("recoworld."):
                yield where, node.module, [a.name for a in node.names]


def test_docs_and_examples_import_the_public_names():
    """Users copy snippets: they should show ``from recoworld.envs import FeedEnv``, not the deep
    module path, wherever a subpackage exports the name."""
    public_packages = {f"recoworld.{name}" for name in SUBPACKAGES}
    for where, module, names in _snippet_imports():
        if module in public_packages or module.count(".") < 2:
            continue  # a subpackage's public names, or a top-level module (recoworld.evaluation)
        parent = module.rsplit(".", 1)[0]
        exported = set(getattr(importlib.import_module(parent), "__all__", ()))
        deep = [n for n in names if n in exported]
        assert not deep, f"{where}: import {deep} from {parent}, not {module}"
