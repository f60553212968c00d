"""Units of a benchmark run, the suites that plan and compute them, and running one unit.

Shared by the runner (:mod:`recoworld.bench.runner`) and every backend
(:mod:`recoworld.bench.ray_backend`), so that a backend never imports the runner.
"""

from __future__ import annotations

import importlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from recoworld.bench.config import BenchConfig
from recoworld.bench.records import SuiteResult
from recoworld.errors import ConfigError
from recoworld.outputs import dumps_json

__all__ = ["Suite", "Unit", "execute_unit", "get_suite"]

_KEY = re.compile(r"^[A-Za-z0-9._@=+-]+(/[A-Za-z0-9._@=+-]+)*$")

# suite name -> (module, class); imported lazily so that one suite's missing dependency (an
# optional package, or a module another issue has not delivered) does not break the others.
_SUITES: dict[str, tuple[str, str]] = {
    "crs": ("recoworld.bench.suite_crs", "CRSSuite"),
    "feed": ("recoworld.bench.suite_feed", "FeedSuite"),
    "ope": ("recoworld.bench.suite_ope", "OPESuite"),
    "llm": ("recoworld.bench.suite_llm", "LLMSuite"),
    "mnar": ("recoworld.bench.suite_mnar", "MNARSuite"),
}


@dataclass(frozen=True)
class Unit:
    """One independent piece of a run.

    ``key`` names it uniquely and is its file's path under ``units/`` (letters, digits, ``._@=+-``
    and ``/``); ``stage`` orders dependent work (stage 0 before 1); ``params`` says what to do.
    """

    key: str
    stage: int = 0
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not _KEY.match(self.key) or ".." in self.key:
            raise ValueError(f"unit key {self.key!r} is not a safe relative path")


class Suite(Protocol):
    """What a benchmark suite provides to the runner."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """Every unit of the run, in a fixed order."""
        ...

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """Compute one unit; the result must be JSON-serialisable."""
        ...

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """Per-seed rows, references and plots from every unit's result (keyed by unit key)."""
        ...


def get_suite(name: str) -> Suite:
    """The suite called ``name``; a clear error when its code or dependency is absent."""
    if name not in _SUITES:
        raise ConfigError(f"unknown suite {name!r}; known: {', '.join(_SUITES)}")
    module, cls = _SUITES[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"suite {name!r} cannot run here: module {exc.name!r} is not available "
            f"(install the extra it needs, or update RecoWorld)"
        ) from exc
    suite: Suite = getattr(mod, cls)()
    return suite


def execute_unit(config: BenchConfig, unit: Unit, run_dir: str) -> tuple[dict[str, Any], float]:
    """Run one unit in this process: its JSON-normalised result and its wall time in seconds.

    The result goes through a strict JSON round trip here (an undefined number becomes ``None``),
    so a freshly computed result and one read back from disk by a resumed run are the same Python
    values.
    """
    start = time.perf_counter()
    result = get_suite(config.suite).run_unit(config, unit, Path(run_dir))
    normalised: dict[str, Any] = json.loads(dumps_json(result, sort_keys=False))
    return normalised, time.perf_counter() - start
