"""Conversational env speed and rule-baseline table on the real LastFM / LastFM* test sets.

Usage:
    .venv/bin/python benchmarks/bench_crs.py --data-dir ../shared/data [--repeats 3] [--json OUT]

1. Speed: a full max-entropy evaluation of every LastFM* test session (11,892), repeated; reports
   the median wall time, the whole-loop rate (env + agent) and the env-only rate (the recorded
   actions replayed through reset/step alone).
2. Table: SR@5/10/15, AT and hDCG@(15,10) of the random, max-entropy and abs-greedy rules on
   LastFM and LastFM* test, beside the published UNICORN-table numbers of the learned methods.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import gymnasium

import recoworld  # noqa: F401
from recoworld.agents.rules import make_rule_agent
from recoworld.evaluation import evaluate
from recoworld.outputs import dumps_json


def _record_and_time(env: gymnasium.Env, world: Any) -> tuple[float, int, list[list[dict]]]:
    agent = make_rule_agent("max-entropy", world)
    n = len(world.split("test"))
    actions: list[list[dict]] = []
    steps = 0
    start = time.perf_counter()
    for i in range(n):
        obs, _ = env.reset(seed=0 if i == 0 else None, options={"split": "test", "index": i})
        session = []
        while True:
            a = agent.predict(obs)
            session.append(a)
            obs, _, term, trunc, _ = env.step(a)
            steps += 1
            if term or trunc:
                break
        actions.append(session)
    return time.perf_counter() - start, steps, actions


def _replay(env: gymnasium.Env, actions: list[list[dict]]) -> float:
    start = time.perf_counter()
    for i, session in enumerate(actions):
        env.reset(seed=0 if i == 0 else None, options={"split": "test", "index": i})
        for a in session:
            env.step(a)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    env = gymnasium.make("recoworld/LastFMStar-CRS-v0", data_dir=args.data_dir)
    world = env.unwrapped.world
    loop_times, replay_times = [], []
    steps = 0
    for _ in range(args.repeats):
        t, steps, actions = _record_and_time(env, world)
        loop_times.append(t)
        replay_times.append(_replay(env, actions))
    speed = {
        "sessions": len(world.split("test")),
        "steps": steps,
        "full_eval_seconds_median": statistics.median(loop_times),
        "full_eval_seconds_all": loop_times,
        "loop_steps_per_s_median": steps / statistics.median(loop_times),
        "env_only_steps_per_s_median": steps / statistics.median(replay_times),
    }
    print(dumps_json(speed, indent=1, sort_keys=False))

    table: dict[str, dict[str, Any]] = {}
    for env_id in ("recoworld/LastFM-CRS-v0", "recoworld/LastFMStar-CRS-v0"):
        e = gymnasium.make(env_id, data_dir=args.data_dir)
        for name in ("random", "max-entropy", "abs-greedy"):
            m, _ = evaluate(e, make_rule_agent(name, e.unwrapped.world, seed=0), "test", seed=0)
            row = m.to_json()
            row.pop("success_by_turn")
            table[f"{env_id} {name}"] = row
            print(env_id, name, {k: round(v, 4) for k, v in row.items()})
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(dumps_json({"speed": speed, "table": table, "platform": platform.platform()}, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
