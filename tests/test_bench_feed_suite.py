from __future__ import annotations

import html
import json

import pytest

from recoworld.bench.config import BenchConfig, FeedSuiteConfig
from recoworld.bench.runner import run_suite
from recoworld.bench.units import get_suite
from recoworld.errors import ConfigError


def _tiny(agents=("random", "oracle", "ppo")) -> BenchConfig:
    return BenchConfig(
        suite="feed",
        seeds=(0,),
        settings=FeedSuiteConfig(
            envs=("recoworld/ShortVideo-v0",),
            agents=agents,
            episodes=8,
            num_envs=4,
            ppo_timesteps=512,
            curve_points=2,
            curve_episodes=4,
        ),
    )


def test_feed_suite_writes_rows_curves_and_plots(tmp_path):
    summary = run_suite(_tiny(), tmp_path, progress=False)
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["agent"] for r in rows] == ["random", "oracle", "ppo"]
    assert all(r["episodes"] == 8 and r["watch_time"] > 0 for r in rows)
    ppo = json.loads((tmp_path / "units/seed-0/ShortVideo-v0/ppo.json").read_text())["result"]
    steps = [p[0] for p in ppo["curve"]]
    assert len(steps) == 2 and steps[0] < steps[1] and steps[1] >= 512
    assert (tmp_path / "figures/learning_curve_ppo_ShortVideo-v0.png").is_file()
    assert (tmp_path / "figures/watch_time_ShortVideo-v0.png").is_file()
    # one recorded session per agent, the same user for all: a timeline plot and transcripts
    assert (tmp_path / "figures/timeline_ShortVideo-v0.png").is_file()
    report = (tmp_path / "report.html").read_text()
    users = set()
    for agent in ("random", "oracle", "ppo"):
        unit = json.loads((tmp_path / f"units/seed-0/ShortVideo-v0/{agent}.json").read_text())
        t = unit["result"]["timeline"]
        text = (tmp_path / f"transcripts/ShortVideo-v0_seed-0_{agent}.txt").read_text()
        body = text.split("\n", 1)[1]
        assert body == t["text"] and html.escape(body) in report
        users.add(body.splitlines()[0])  # "[feed] user N"
        assert body.count(" | watched ") == len(t["watch_time"]) == len(t["duration"]) >= 1
        assert t["left"] == ("the user leaves after" in body)
    assert len(users) == 1
    # a unit recomputed (as a resumed run or a Ray worker would) gives the same numbers
    suite = get_suite("feed")
    unit = next(u for u in suite.plan(_tiny()) if u.params["agent"] == "ppo")
    again = json.loads(json.dumps(suite.run_unit(_tiny(), unit, tmp_path)))
    assert again == ppo
    assert summary.units_computed == 3


def test_feed_suite_rejects_unknown_agents_and_envs(tmp_path):
    with pytest.raises(ConfigError, match=r"`feed.agents` holds 'greedy'; known: random"):
        run_suite(_tiny(agents=("greedy",)), tmp_path, progress=False)
    cfg = BenchConfig(suite="feed", seeds=(0,),
                      settings=FeedSuiteConfig(envs=("recoworld/Synthetic-CRS-v0",)))
    with pytest.raises(ConfigError, match=r"'recoworld/Synthetic-CRS-v0', which is not a feed env"):
        run_suite(cfg, tmp_path / "b", progress=False)
