"""Run a benchmark suite from Python, resumably, and read its records, top to bottom.

The same as ``recoworld bench crs --config my.toml --out runs/my-crs``. Run it twice: the second
run finds every unit finished and only rewrites the records.
Run: ``.venv/bin/python examples/run_benchmark.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from recoworld.bench import BenchConfig, CRSSuiteConfig, run_suite

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"
OUT = Path(os.environ.get("RECOWORLD_EXAMPLE_OUT", "runs/examples/crs"))

config = BenchConfig(
    suite="crs",
    seeds=(0, 1) if SMOKE else (0, 1, 2),
    title="Rule baselines on the synthetic world",
    settings=CRSSuiteConfig(
        envs=("recoworld/Synthetic-CRS-v0",),
        agents=("max-entropy", "abs-greedy"),
        sessions=20 if SMOKE else 600,
        shard_sessions=10 if SMOKE else 200,
    ),
)
summary = run_suite(config, OUT)  # backend="ray" spreads the units over a Ray cluster
print(f"{summary.units_computed} units computed, {summary.units_reused} reused")
print((OUT / "table.md").read_text())
rows = json.loads((OUT / "results.json").read_text())["rows"]
print("per-seed SR@15:", {(r["agent"], r["seed"]): round(r["sr@15"], 3) for r in rows})
print("report:", summary.paths["report"])
