"""The ope suite over recoworld.bench.ope_bench, at a tiny scale (the shipped scales take minutes)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from recoworld.bench import ope_bench
from recoworld.bench.config import BenchConfig, OPESuiteConfig
from recoworld.bench.runner import run_suite
from recoworld.errors import ConfigError


def test_ope_suite_rows_table_and_error_bars(tmp_path, monkeypatch):
    # every budget of the quick scale cut to a few units (whatever fields the scale has)
    small = {"replications": 3, "bandit_replications": 3, "bandit_rounds": 200,
             "env_bandit_episodes": 30, "env_episodes": 6, "truth_episodes": 40}
    quick = ope_bench.BenchScale.quick()
    tiny = dataclasses.replace(quick, **{f.name: min(getattr(quick, f.name), small.get(f.name, 3))
                                         for f in dataclasses.fields(quick)})
    monkeypatch.setattr(ope_bench.BenchScale, "quick", classmethod(lambda cls: tiny))
    cfg = BenchConfig(suite="ope", seeds=(0,), settings=OPESuiteConfig(scale="quick"))
    run_suite(cfg, tmp_path, progress=False)
    out = json.loads((tmp_path / "results.json").read_text())
    direct = ope_bench.run_ope_bench(quick=True, seed=0)
    expected = [(r.setting, est, st["rmse"]) for r in direct for est, st in r.stats().items()]
    assert [(r["setting"], r["estimator"], r["rmse"]) for r in out["rows"]] == expected
    for setting in dict.fromkeys(r.setting for r in direct):
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in setting)
        assert (tmp_path / f"figures/estimator_error_{name}.png").is_file()
    assert "| synthetic-bandit/uniform->greedy | ipw |" in (tmp_path / "table.md").read_text()


def test_ope_scale_is_checked():
    with pytest.raises(ConfigError, match=r"`ope.scale` must be quick or full, got 'quik'; did you mean 'quick'"):
        OPESuiteConfig(scale="quik")
