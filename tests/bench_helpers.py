"""Helpers of the bench tests: a small crs config on the synthetic world, file comparisons."""

from __future__ import annotations

import json
from pathlib import Path

from recoworld.bench.config import BenchConfig, CRSSuiteConfig

RESULT_FILES = ("results.json", "results.parquet", "table.md", "config.toml")
# meta.json keys that legitimately differ between two runs of the same config
VOLATILE_META = ("started", "finished", "unit_seconds", "units_computed", "units_reused", "backend",
                 "command", "address", "ray_nodes")


def small_crs_config(seeds=(0, 1), sessions=40, shard=20) -> BenchConfig:
    """2 seeds x 2 agents x 2 blocks = 8 units on the synthetic world; about a second in all."""
    return BenchConfig(
        suite="crs",
        seeds=tuple(seeds),
        title="small crs",
        settings=CRSSuiteConfig(
            envs=("recoworld/Synthetic-CRS-v0",),
            agents=("random", "max-entropy"),
            sessions=sessions,
            shard_sessions=shard,
        ),
    )


def result_bytes(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in RESULT_FILES}


def stable_meta(run_dir: Path) -> dict:
    meta = json.loads((run_dir / "meta.json").read_text())
    for key in VOLATILE_META:
        meta.pop(key)
    return meta


def learned_crs_config(seeds=(0,)) -> BenchConfig:
    """SCPR trained for 40 sessions beside max-entropy: a training unit, then 2 blocks each."""
    return BenchConfig(
        suite="crs",
        seeds=tuple(seeds),
        title="small learned crs",
        settings=CRSSuiteConfig(
            envs=("recoworld/Synthetic-CRS-v0",),
            agents=("max-entropy", "scpr"),
            sessions=30,
            shard_sessions=15,
            train_episodes=40,
        ),
    )
