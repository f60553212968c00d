"""The ``recoworld`` command line for conversational environments."""

from __future__ import annotations

import json

from recoworld.cli import main


def test_evaluate_json_last_line(capsys):
    code = main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "max-entropy",
                 "--sessions", "40", "--seed", "1", "--json"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["synthetic"] is True
    for key in ("sr@5", "sr@10", "sr@15", "avg_turns", "hdcg", "sessions"):
        assert key in result
    assert result["sessions"] == 40
    assert 0.0 <= result["sr@5"] <= result["sr@10"] <= result["sr@15"] <= 1.0
    assert "SR@15" in "\n".join(out[:-1])  # the human table precedes the JSON line


def test_evaluate_batched_and_one_at_a_time_agree(capsys):
    results = []
    for num_envs in ("1", "16"):
        code = main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "max-entropy",
                     "--sessions", "60", "--num-envs", num_envs, "--json"])
        assert code == 0
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        results.append({k: v for k, v in row.items() if k != "seconds"})
    assert results[0] == results[1]
    assert main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "random",
                 "--num-envs", "0"]) == 2
    assert "argument --num-envs: must be >= 1, got 0" in capsys.readouterr().err


def test_evaluate_real_lastfm(capsys, shared_data):
    code = main(["evaluate", "--env", "recoworld/LastFM-CRS-v0", "--agent", "abs-greedy",
                 "--sessions", "30", "--data-dir", str(shared_data), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["sessions"] == 30 and result["synthetic"] is False


def test_evaluate_says_when_the_world_is_synthetic(capsys, shared_data):
    """Yelp without its release runs on a synthetic world: the JSON line and the table say so."""
    code = main(["evaluate", "--env", "recoworld/YelpStar-CRS-v0", "--agent", "max-entropy",
                 "--sessions", "5", "--data-dir", str(shared_data), "--json"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["synthetic"] is True and result["world"] == "yelp_star"
    assert any(line.startswith("world") and "synthetic" in line for line in out[:-1])


def test_evaluate_errors_are_clear(capsys):
    assert main(["evaluate", "--env", "recoworld/Synthetic-CRS-v0", "--agent", "nope"]) == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err
    assert main(["evaluate", "--env", "recoworld/Nope-v0", "--agent", "random"]) == 2
    assert "argument --env: invalid choice: 'recoworld/Nope-v0'" in capsys.readouterr().err


def test_datasets_command(capsys, shared_data):
    assert main(["datasets", "--data-dir", str(shared_data), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rows["lastfm"]["present"] and rows["synthetic"]["present"]
    assert rows["lastfm"]["path"].endswith("crs/lastfm")
