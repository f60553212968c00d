from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import gymnasium
import polars as pl
import pytest
from bench_helpers import result_bytes, small_crs_config, stable_meta

import recoworld
from recoworld.agents.registry import make_agent
from recoworld.bench.config import config_to_toml
from recoworld.bench.runner import run_suite
from recoworld.bench.units import Unit, get_suite
from recoworld.errors import ConfigError, DataError
from recoworld.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """One uninterrupted run of the small config."""
    out = tmp_path_factory.mktemp("uninterrupted")
    summary = run_suite(small_crs_config(), out, progress=False)
    assert (summary.units_computed, summary.units_reused) == (8, 0)
    return out


def test_every_record_is_written(reference_run):
    out = reference_run
    for name in ("config.toml", "meta.json", "results.json", "results.parquet", "table.md",
                 "report.html", "figures/success_by_turn_Synthetic-CRS-v0.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "units").rglob("*.json"))) == 8
    meta = json.loads((out / "meta.json").read_text())
    assert meta["recoworld_version"] == recoworld.__version__
    assert set(meta["git"]) == {"commit", "dirty"}
    assert meta["platform"]["python"] == sys.version.split()[0]
    results = json.loads((out / "results.json").read_text())
    assert len(results["rows"]) == 4  # 2 seeds x 2 agents
    frame = pl.read_parquet(out / "results.parquet")
    assert frame.height == 4
    assert frame["sr@15"].to_list() == [r["sr@15"] for r in results["rows"]]
    assert frame["success_by_turn"].to_list()[0] == results["rows"][0]["success_by_turn"]


def test_unsharded_unit_equals_the_plain_evaluation():
    cfg = small_crs_config(seeds=(3,), sessions=30, shard=0)
    suite = get_suite("crs")
    units = suite.plan(cfg)
    assert [u.key for u in units] == ["seed-3/Synthetic-CRS-v0/random/000000-000030",
                                      "seed-3/Synthetic-CRS-v0/max-entropy/000000-000030"]
    res = suite.run_unit(cfg, units[1], Path("."))
    env = gymnasium.make("recoworld/Synthetic-CRS-v0")
    _, outcomes = evaluate(env, make_agent("max-entropy", env.unwrapped.world, 3), "test", 30, seed=3)
    assert res["turn"] == [o.turn for o in outcomes]
    assert res["rank"] == [o.rank for o in outcomes]


def test_two_runs_with_the_same_seeds_write_identical_results(reference_run, tmp_path):
    run_suite(small_crs_config(), tmp_path, progress=False)
    assert result_bytes(tmp_path) == result_bytes(reference_run)
    assert stable_meta(tmp_path) == stable_meta(reference_run)


def test_injected_failure_then_resume_equals_uninterrupted(reference_run, tmp_path):
    written = []

    def crash_after_third(key):
        written.append(key)
        if len(written) == 3:
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError, match="injected failure"):
        run_suite(small_crs_config(), tmp_path, progress=False, after_unit=crash_after_third)
    assert len(list((tmp_path / "units").rglob("*.json"))) == 3
    assert not (tmp_path / "results.json").exists()
    resumed = []
    summary = run_suite(small_crs_config(), tmp_path, progress=False, after_unit=resumed.append)
    assert (summary.units_computed, summary.units_reused) == (5, 3)
    assert not set(resumed) & set(written)  # only the missing units ran
    assert result_bytes(tmp_path) == result_bytes(reference_run)


def test_killed_process_then_resume_equals_uninterrupted(reference_run, tmp_path):
    # A child process SIGKILLs itself right after its second unit file is written: no clean-up,
    # no finally blocks. The resumed run must compute only the other six and match exactly.
    (tmp_path / "c.toml").write_text(config_to_toml(small_crs_config()))
    script = textwrap.dedent(
        f"""
        import os, signal
        from recoworld.bench.config import load_config
        from recoworld.bench.runner import run_suite
        n = []
        def kill(key):
            n.append(key)
            if len(n) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        run_suite(load_config({str(tmp_path / "c.toml")!r}), {str(tmp_path / "run")!r},
                  progress=False, after_unit=kill)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    run = tmp_path / "run"
    assert len(list((run / "units").rglob("*.json"))) == 2
    # a writer killed mid-write leaves at most a hidden temp file, which resuming ignores
    (run / "units" / ".stale.json.tmp").write_text('{"key": "half')
    summary = run_suite(small_crs_config(), run, progress=False)
    assert (summary.units_computed, summary.units_reused) == (6, 2)
    assert result_bytes(run) == result_bytes(reference_run)


def test_resume_refuses_a_different_config(reference_run, tmp_path):
    run_suite(small_crs_config(seeds=(0,)), tmp_path, progress=False)
    with pytest.raises(ConfigError, match=r"holds a run of another config .*pass another --out"):
        run_suite(small_crs_config(seeds=(0, 1)), tmp_path, progress=False)


def test_a_failed_start_leaves_the_directory_usable(tmp_path):
    cfg = small_crs_config(seeds=(0,))
    bad = type(cfg)(suite="crs", seeds=(0,), settings=type(cfg.settings)(agents=("nope",)))
    with pytest.raises(ConfigError, match=r"`crs\.agents` holds 'nope'"):
        run_suite(bad, tmp_path, progress=False)
    assert not (tmp_path / "config.toml").exists()
    (tmp_path / "config.toml").write_text(config_to_toml(small_crs_config(seeds=(9,))))
    # a config.toml without any finished unit is simply replaced
    assert run_suite(cfg, tmp_path, progress=False).units_computed == 4
    (tmp_path / "config.toml").unlink()
    with pytest.raises(DataError, match=r"holds finished units but no config.toml"):
        run_suite(cfg, tmp_path, progress=False)


def test_a_corrupt_unit_file_is_reported_not_dropped(tmp_path):
    cfg = small_crs_config(seeds=(0,))
    run_suite(cfg, tmp_path, progress=False)
    unit = next((tmp_path / "units").rglob("*.json"))
    unit.write_text('{"key": "seed-0/Synth')
    with pytest.raises(DataError, match=r"is not valid JSON .*delete it to recompute"):
        run_suite(cfg, tmp_path, progress=False)
    unit.write_text(json.dumps({"key": "something-else", "result": {}}))
    with pytest.raises(DataError, match=r"does not hold unit .*delete it"):
        run_suite(cfg, tmp_path, progress=False)
    os.unlink(unit)
    assert run_suite(cfg, tmp_path, progress=False).units_computed == 1


def test_bad_backend_arguments_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"`--backend` must be one of local, ray, got 'spark'"):
        run_suite(small_crs_config(), tmp_path, backend="spark")
    with pytest.raises(ConfigError, match=r"`--address` needs `--backend ray`"):
        run_suite(small_crs_config(), tmp_path, address="auto")


def test_unknown_agent_is_refused_with_the_known_ones(tmp_path):
    cfg = small_crs_config()
    bad = type(cfg)(suite="crs", seeds=(0,), settings=type(cfg.settings)(agents=("scpr-typo",)))
    with pytest.raises(ConfigError, match=r"`crs.agents` holds 'scpr-typo'.*known: .*max-entropy"):
        run_suite(bad, tmp_path, progress=False)


def test_unit_keys_must_be_safe_paths():
    with pytest.raises(ValueError, match="not a safe relative path"):
        Unit(key="../escape")
    with pytest.raises(ValueError, match="not a safe relative path"):
        Unit(key="/abs/path")
