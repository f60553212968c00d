"""The mnar suite (the closed loop) at a tiny scale: records, tau notes, plots, config checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recoworld.bench.config import BenchConfig, MNARSuiteConfig, config_from_dict, default_config
from recoworld.bench.runner import run_suite
from recoworld.bench.suite_mnar import kendall_tau_table
from recoworld.errors import ConfigError


def _tiny(loggings=("uniform", "softmax:3")) -> BenchConfig:
    return BenchConfig(
        suite="mnar", seeds=(0,), title="tiny mnar",
        settings=MNARSuiteConfig(loggings=loggings, log_episodes=120, online_episodes=20,
                                 dims=(4,), l2s=(0.01,), epochs=1, num_envs=20,
                                 save_logs=True))


def test_mnar_suite_runs_the_closed_loop_and_writes_its_records(tmp_path):
    cfg = _tiny()
    summary = run_suite(cfg, tmp_path, progress=False)
    out = json.loads((tmp_path / "results.json").read_text())
    learners = ["naive", "ips", "snips", "dr", "naive-implicit", "rel-mf", "logging policy"]
    assert [(r["logging"], r["learner"]) for r in out["rows"]] == [
        (lg, ln) for lg in ("uniform", "softmax:3") for ln in learners]
    for row in out["rows"]:
        assert row["watch_time"] > 0 and 0 <= row["like_rate"] <= 1
        assert np.isfinite([row[c] for c in ("dcg_ips", "ope_ips", "ope_dr", "ope_mips")]).all()
    unit = json.loads((tmp_path / "units/seed-0/ShortVideo-v0/softmax=3.json").read_text())
    log = unit["result"]["log"]
    assert log["min_pscore"] < 1 / 16 and log["users_held_out"] == 600  # 30 % of 2,000
    assert log["train_rows"] + log["valid_rows"] + log["test_rows"] == log["rows"]
    # the logging policy's own offline value is the log's mean reward under IPS (it is on-policy)
    pol = unit["result"]["logging_policy"]
    assert pol["ope_ips"] == pytest.approx(pol["ope_snips"], rel=0.05)
    assert (tmp_path / "logs/seed-0/ShortVideo-v0/uniform.parquet").is_file()
    assert (tmp_path / "figures/online_vs_ope_ShortVideo-v0_softmax_3.png").is_file()
    assert (tmp_path / "figures/kendall_tau_ShortVideo-v0.png").is_file()
    table = (tmp_path / "table.md").read_text()
    assert "| recoworld/ShortVideo-v0 | softmax:3 | rel-mf |" in table
    assert "Kendall tau vs online watch time: ShortVideo-v0 / softmax:3 / dcg_ips" in table
    assert "OPE error vs online reward per video" in table
    taus = json.loads((tmp_path / "tau.json").read_text())
    assert {t["offline"] for t in taus} >= {"dcg_naive", "ope_mips"}
    assert summary.units_computed == 2
    # a rerun reuses every unit and writes the same results
    again = run_suite(cfg, tmp_path, progress=False)
    assert again.units_reused == 2
    assert json.loads((tmp_path / "results.json").read_text()) == out


def test_kendall_tau_table_on_hand_rows():
    rows = [{"env": "e", "logging": "l", "learner": n, "seed": 0, "watch_time": w,
             **{m: v for m in ("dcg_naive", "dcg_ips", "recall_naive", "recall_ips", "ope_ips",
                               "ope_snips", "ope_dr", "ope_switch_dr", "ope_mips")}}
            for n, w, v in (("a", 3.0, 1.0), ("b", 2.0, 2.0), ("c", 1.0, 3.0))]
    rows[0]["ope_ips"], rows[1]["ope_ips"], rows[2]["ope_ips"] = 3.0, 2.0, 1.0
    for r, like in zip(rows, (0.1, 0.2, 0.3), strict=True):
        r["like_rate"], r["value_per_video"] = like, 1.0 - like
    table = kendall_tau_table(rows, ("a", "b", "c"))
    taus = {t["offline"]: t["taus"][0] for t in table}
    assert taus["dcg_naive"] == pytest.approx(-1.0)
    assert taus["ope_ips"] == pytest.approx(1.0)
    own = {t["offline"]: (t["own_target"], t["taus_own"][0]) for t in table}
    assert own["dcg_naive"] == ("like_rate", pytest.approx(1.0))
    assert own["ope_ips"] == ("value_per_video", pytest.approx(1.0))


def test_mnar_config_is_checked():
    with pytest.raises(ConfigError, match="use uniform, softmax:BETA or epsilon:EPS"):
        MNARSuiteConfig(loggings=("softmax",))
    with pytest.raises(ConfigError, match="must include naive"):
        MNARSuiteConfig(learners=("ips",))
    with pytest.raises(ConfigError, match="did you mean 'rel-mf'"):
        MNARSuiteConfig(learners=("naive", "relmf"))
    with pytest.raises(ConfigError, match=r"unknown key `mnar\.episodes`"):
        config_from_dict({"suite": "mnar", "seeds": [0], "mnar": {"episodes": 3}})
    with pytest.raises(ConfigError, match="not a single-video feed env id"):
        run_suite(BenchConfig(suite="mnar", seeds=(0,), settings=MNARSuiteConfig(
            envs=("recoworld/ShortVideo-Slate-v0",))), "unused", progress=False)
    quick, full = default_config("mnar", quick=True), default_config("mnar")
    assert isinstance(full.settings, MNARSuiteConfig) and len(full.seeds) == 3
    assert full.settings.online_episodes >= 1000
    assert isinstance(quick.settings, MNARSuiteConfig)
    assert len([lg for lg in quick.settings.loggings if lg != "uniform"]) >= 3
