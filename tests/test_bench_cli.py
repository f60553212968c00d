from __future__ import annotations

import json

from bench_helpers import small_crs_config

from recoworld.bench.config import config_to_toml
from recoworld.cli import main


def test_bench_command_runs_resumes_and_prints_json(tmp_path, capsys):
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(config_to_toml(small_crs_config(seeds=(0,))))
    argv = ["bench", "crs", "--config", str(cfg_path), "--out", str(tmp_path / "run"), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["units_computed"], out["units_reused"]) == (4, 0)
    assert [s["agent"] for s in out["summary"]] == ["random", "max-entropy"]
    assert out["files"]["report"].endswith("report.html")
    assert main(argv) == 0  # the same command again finds everything done
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["units_computed"], again["units_reused"]) == (0, 4)
    assert again["summary"] == out["summary"]


def test_bench_command_seeds_override_and_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('suite = "crs"\nseeds = [0]\n[crs]\nagnets = ["random"]\n')
    assert main(["bench", "crs", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown key `crs.agnets`" in err and "did you mean 'agents'?" in err
    run = tmp_path / "run"
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(config_to_toml(small_crs_config(seeds=(0,), sessions=10, shard=0)))
    args = ["bench", "crs", "--config", str(cfg_path), "--out", str(run)]
    assert main([*args, "--seeds", "4"]) == 0
    assert "seeds = [4]" in (run / "config.toml").read_text()
    assert main([*args, "--seeds", "5"]) == 2
    assert "holds a run of another config" in capsys.readouterr().err
