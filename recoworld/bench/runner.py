"""Run a benchmark suite as independent units of work, resumably, on a local or Ray backend.

A suite splits its run into :class:`Unit` s (a seed, an environment, an agent, a block of sessions).
Each unit's result is a pure function of the config and the unit (and of the files earlier stages
wrote, e.g. a trained checkpoint), and is written atomically to ``units/<key>.json`` in the run
directory as soon as it finishes. A restarted run reads the finished units back and computes only
the missing ones, so its final results equal an uninterrupted run's. Stages run in order (training
before evaluation); units of one stage are independent, which is what the Ray backend spreads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recoworld.bench.config import BenchConfig, config_to_toml, load_config
from recoworld.bench.records import (
    SuiteResult,
    atomic_write_text,
    git_commit,
    platform_info,
    write_records,
)
from recoworld.bench.units import Unit, execute_unit, get_suite
from recoworld.errors import ConfigError, DataError
from recoworld.outputs import dumps_json

__all__ = ["BACKENDS", "RunSummary", "run_suite"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class RunSummary:
    """What :func:`run_suite` did: where, how many units it computed or reused, the result."""

    run_dir: Path
    units_computed: int
    units_reused: int
    result: SuiteResult
    paths: dict[str, Path]


def _unit_path(run_dir: Path, key: str) -> Path:
    return run_dir / "units" / f"{key}.json"


def _read_done(run_dir: Path, units: list[Unit]) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    for u in units:
        p = _unit_path(run_dir, u.key)
        if not p.is_file():
            continue
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(
                f"unit file {p} is not valid JSON ({exc}); delete it to recompute that unit"
            ) from exc
        if not isinstance(data, dict) or data.get("key") != u.key or "result" not in data:
            raise DataError(
                f"unit file {p} does not hold unit {u.key!r}; delete it to recompute that unit"
            )
        done[u.key] = data
    return done


def _check_config(run_dir: Path, config: BenchConfig) -> str:
    toml = config_to_toml(config)
    path = run_dir / "config.toml"
    # a directory whose run never finished a unit holds nothing worth protecting
    started = (run_dir / "units").is_dir() and any((run_dir / "units").rglob("*.json"))
    if started and not path.is_file():
        raise DataError(
            f"run directory {run_dir} holds finished units but no config.toml, so they cannot "
            "be matched to a config; pass another --out, or delete the directory"
        )
    if path.is_file() and started:
        stored = load_config(path)
        if stored != config:
            a, b = json.dumps(_flat(stored)), json.dumps(_flat(config))
            raise ConfigError(
                f"run directory {run_dir} holds a run of another config (stored {a}, now {b}); "
                "pass another --out, or delete the directory to start afresh"
            )
    else:
        atomic_write_text(path, toml)
    return toml


def _flat(config: BenchConfig) -> dict[str, Any]:
    from recoworld.bench.config import config_to_dict

    return config_to_dict(config)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


UnitExecutor = Callable[
    [BenchConfig, list[Unit], Path, Callable[[Unit, dict[str, Any], float], None]], None
]


def _run_local(
    config: BenchConfig,
    units: list[Unit],
    run_dir: Path,
    on_done: Callable[[Unit, dict[str, Any], float], None],
    progress: bool = True,
) -> None:
    iterator: Any = units
    if progress and units:
        from tqdm import tqdm

        iterator = tqdm(units, desc=f"bench {config.suite}", unit="unit", file=sys.stderr)
    for u in iterator:
        result, seconds = execute_unit(config, u, str(run_dir))
        on_done(u, result, seconds)


def run_suite(
    config: BenchConfig,
    out_dir: str | Path,
    backend: str = "local",
    address: str | None = None,
    num_cpus: int = 2,
    progress: bool = True,
    after_unit: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run (or finish) ``config``'s suite into ``out_dir`` and write every record.

    ``backend`` is ``"local"`` (units in this process, in order) or ``"ray"`` (units of a stage
    spread over a Ray cluster: ``address``, or a local one with ``num_cpus`` workers).
    ``after_unit(key)`` is called after each unit's file is written (progress hooks, tests).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"`--backend` must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if address is not None and backend != "ray":
        raise ConfigError("`--address` needs `--backend ray`")
    started = _now()
    suite = get_suite(config.suite)
    units = suite.plan(config)  # before touching the run directory: a bad config leaves no trace
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_toml = _check_config(run_dir, config)
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"suite {config.suite!r} planned duplicate unit keys")  # invariant
    done = _read_done(run_dir, units)
    reused = len(done)
    timings: dict[str, float] = {k: float(v.get("seconds", 0.0)) for k, v in done.items()}

    def on_done(unit: Unit, result: dict[str, Any], seconds: float) -> None:
        record = {"key": unit.key, "result": result, "seconds": seconds}
        atomic_write_text(_unit_path(run_dir, unit.key), dumps_json(record) + "\n")
        done[unit.key] = record
        timings[unit.key] = seconds
        if after_unit is not None:
            after_unit(unit.key)

    ray_nodes: dict[str, dict[str, Any]] = {}  # node id -> where it is, the units it ran
    for stage in sorted({u.stage for u in units}):
        todo = [u for u in units if u.stage == stage and u.key not in done]
        if not todo:
            continue
        if backend == "ray":
            from recoworld.bench.ray_backend import run_units_ray

            nodes = run_units_ray(config, todo, run_dir, on_done, address=address, num_cpus=num_cpus)
            for node_id, node in nodes.items():
                units_before = ray_nodes.get(node_id, {}).get("units", [])
                ray_nodes[node_id] = {**node, "units": sorted(units_before + node["units"])}
        else:
            _run_local(config, todo, run_dir, on_done, progress=progress)

    results = {k: done[k]["result"] for k in keys}
    result = suite.summarize(config, results, run_dir)
    from recoworld import __version__

    meta = {
        "suite": config.suite,
        "recoworld_version": __version__,
        "git": git_commit(),
        "platform": platform_info(),
        "backend": backend,
        "address": address,
        "started": started,
        "finished": _now(),
        "units_computed": len(units) - reused,
        "units_reused": reused,
        "unit_seconds": timings,
        "ray_nodes": ray_nodes,
        "command": sys.argv,
    }
    title = config.title or f"RecoWorld benchmark: {config.suite}"
    paths = write_records(run_dir, config_toml, result, meta, title)
    return RunSummary(run_dir, len(units) - reused, reused, result, paths)
