"""Learned agents inside the crs suite: trained once per seed, resumable, reproducible."""

from __future__ import annotations

import json

import pytest
from bench_helpers import learned_crs_config, result_bytes

from recoworld.bench.runner import run_suite
from recoworld.bench.units import get_suite


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learned")
    run_suite(learned_crs_config(), out, progress=False)
    return out


def test_training_is_a_unit_before_the_evaluation_blocks():
    units = get_suite("crs").plan(learned_crs_config())
    assert [(u.key, u.stage) for u in units] == [
        ("seed-0/Synthetic-CRS-v0/max-entropy/000000-000015", 1),
        ("seed-0/Synthetic-CRS-v0/max-entropy/000015-000030", 1),
        ("seed-0/Synthetic-CRS-v0/scpr/train", 0),
        ("seed-0/Synthetic-CRS-v0/scpr/000000-000015", 1),
        ("seed-0/Synthetic-CRS-v0/scpr/000015-000030", 1),
    ]


def test_learned_agent_rows_checkpoint_and_learning_curve(learned_run):
    rows = json.loads((learned_run / "results.json").read_text())["rows"]
    assert [r["agent"] for r in rows] == ["max-entropy", "scpr"]
    assert all(r["sessions"] == 30 for r in rows)
    assert list((learned_run / "checkpoints/Synthetic-CRS-v0").glob("*.pt"))
    train = json.loads((learned_run / "units/seed-0/Synthetic-CRS-v0/scpr/train.json").read_text())
    history = train["result"]["selection_history"]
    assert history and history[-1][0] == 40  # held-out SR measured through to the last session
    assert (learned_run / "figures/learning_curve_Synthetic-CRS-v0.png").is_file()


def test_killed_after_training_resumes_to_identical_results(learned_run, tmp_path):
    done = []

    def crash_after_training(key):
        done.append(key)
        if key.endswith("/train"):
            raise RuntimeError("killed after training")

    with pytest.raises(RuntimeError, match="killed after training"):
        run_suite(learned_crs_config(), tmp_path, progress=False, after_unit=crash_after_training)
    assert done == ["seed-0/Synthetic-CRS-v0/scpr/train"]  # stage 0 runs first
    summary = run_suite(learned_crs_config(), tmp_path, progress=False)
    assert (summary.units_computed, summary.units_reused) == (4, 1)
    assert result_bytes(tmp_path) == result_bytes(learned_run)
