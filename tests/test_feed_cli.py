"""``recoworld evaluate`` on feed ids prints one JSON object as its last line."""

from __future__ import annotations

import json

import pytest

from recoworld.cli import main


@pytest.mark.parametrize("agent", ["random", "oracle"])
def test_evaluate_json_last_line(agent, capsys):
    assert main(["evaluate", "--env", "recoworld/ShortVideo-v0", "--agent", agent,
                 "--episodes", "20", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    row = json.loads(last)
    assert {"watch_time", "depth", "return_rate", "episodes"} <= set(row)
    assert row["episodes"] == 20 and row["agent"] == agent


def test_evaluate_unknown_agent_and_missing_checkpoint(capsys):
    assert main(["evaluate", "--env", "recoworld/ShortVideo-v0", "--agent", "nope",
                 "--episodes", "2"]) == 2
    assert "unknown agent 'nope' for feed envs; known: random, most-popular" in capsys.readouterr().err
    assert main(["evaluate", "--env", "recoworld/ShortVideo-v0", "--agent", "ppo",
                 "--episodes", "2"]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_evaluate_slate_env(capsys):
    assert main(["evaluate", "--env", "recoworld/ShortVideo-Slate-v0", "--agent", "most-popular",
                 "--episodes", "4", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["episodes"] == 4 and row["sessions"] == 4 and row["depth"] >= 1
