"""The package as a user installs it: a wheel, in a fresh virtual environment, run from elsewhere.

The wheel is built from a copy of the sources (the checkout stays clean), installed into a new
virtual environment that sees nothing of the test environment (no ``--system-site-packages``): the
CPU build of ``torch==2.13.0`` first, as ``scripts/setup`` does, then the wheel with its
dependencies. ``recoworld evaluate`` on the bundled synthetic world must give the same numbers as
the source checkout, and the shipped data (configs, references, prompts) must be in the wheel and
load from it -- so package data cannot go missing from a release.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoworld.cli import main

ROOT = Path(__file__).resolve().parents[1]
EVALUATE = ["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "max-entropy", "--json"]

# Run inside the fresh environment: every shipped config, reference table and prompt loads.
_LOAD_DATA = """
import json, recoworld
from recoworld.bench.config import SUITES, default_config
from recoworld.users.llm.prompts import prompt_names, render_prompt
configs = {f"{s}{'-quick' if q else ''}": default_config(s, quick=q).suite
           for s in SUITES for q in (False, True)}
print(json.dumps({"file": recoworld.__file__, "configs": configs, "prompts": prompt_names()}))
"""


def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


def _package_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in (root / "recoworld").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Build the wheel from a copy of the sources; install it into a fresh venv. (venv, wheel).

    The environment (1.6 GB, torch included) is deleted afterwards rather than left to pytest's
    rotation of temporary folders.
    """
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "recoworld", src / "recoworld", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(src)], work, 600)
    (wheel,) = (work / "dist").glob("recoworld-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], work, 300)
    vpip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile"]
    _run([*vpip, "torch==2.13.0"], work, 900)
    _run([*vpip, str(wheel)], work, 900)
    yield venv, wheel
    shutil.rmtree(work, ignore_errors=True)


def test_the_wheel_holds_every_file_of_the_package(wheel_env: tuple[Path, Path]) -> None:
    _, wheel = wheel_env
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if n.startswith("recoworld/")}
    source = _package_files(ROOT)
    assert {"recoworld/bench/configs/crs-quick.toml", "recoworld/py.typed"} <= source
    assert source - shipped == set()
    assert shipped - source == set()


def test_installed_wheel_evaluates_the_bundled_world_like_the_checkout(
    wheel_env: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venv, _ = wheel_env
    bin_dir = venv / "bin"
    proc = _run([str(bin_dir / "recoworld"), *EVALUATE], tmp_path, 600)
    from_wheel = json.loads(proc.stdout.strip().splitlines()[-1])
    assert main(EVALUATE) == 0
    from_checkout = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for timing in ("seconds",):
        from_wheel.pop(timing)
        from_checkout.pop(timing)
    assert from_wheel["sessions"] > 1000
    assert from_wheel == from_checkout

    proc = _run([str(bin_dir / "recoworld"), "bench", "crs", "--quick", "--help"], tmp_path, 300)
    assert proc.stdout.startswith("usage: recoworld bench") and "--backend" in proc.stdout

    proc = _run([str(bin_dir / "python"), "-c", _LOAD_DATA], tmp_path, 300)
    data = json.loads(proc.stdout)
    # imported from the fresh environment, not from the checkout
    assert Path(data["file"]).is_relative_to(venv)
    assert data["configs"] == {
        f"{s}{q}": s for s in ("crs", "feed", "ope", "llm", "mnar") for q in ("", "-quick")
    }
    shipped_prompts = sorted(p.stem for p in (ROOT / "recoworld/users/llm/prompts").glob("*.txt"))
    assert data["prompts"] == shipped_prompts and len(shipped_prompts) >= 8
