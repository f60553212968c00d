"""Smoke test of the feed benchmark's reference PPO training script with a tiny budget."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_feed", ROOT / "benchmarks" / "bench_feed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_feed"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_train_script_runs_with_a_tiny_budget(tmp_path):
    _bench().main(["--out", str(tmp_path), "train", "--minutes", "0.02", "--eval-episodes", "10"])
    result = json.loads((tmp_path / "train.json").read_text())
    assert set(result["evaluation"]) == {"random", "most_popular", "epsilon_greedy", "ppo", "oracle"}
    assert all(row["episodes"] == 10 for row in result["evaluation"].values())
    assert result["settings"]["minutes"] == 0.02
    assert (tmp_path / "feed_ppo_learning_curve.png").stat().st_size > 0
