"""Evaluation of saved SCPR / EAR agents, one session at a time vs batched, side by side.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_learned_eval.py --data-dir ../shared/data --sessions 2000 \
        --checkpoint scpr=runs/agents/lastfm_scpr_reproduction_0_noise0.0_published.pt \
        --checkpoint ear=runs/agents/lastfm_ear_reproduction_0_noise0.0_published.pt \
        --out benchmarks/results/learned_eval_speed.json

For each checkpoint (LastFM), ``--repeats`` interleaved pairs of ``evaluate`` on the first
``--sessions`` test sessions: ``num_envs=1`` (one session at a time) and the default batched path
(``predict_batch`` on a vector env, 1,024 conversations). Checks that the outcomes are identical
and reports wall and CPU seconds (medians), the ratios and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from recoworld.agents.registry import load_trained_agent
from recoworld.datasets.registry import load_world
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.evaluation import evaluate
from recoworld.outputs import dumps_json


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--checkpoint", action="append", required=True, help="NAME=PATH")
    p.add_argument("--sessions", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="benchmarks/results/learned_eval_speed.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    world = load_world(args.dataset, args.data_dir)
    env = ConversationalRecEnv(world, split="test")
    result: dict[str, Any] = {
        "command": "benchmarks/bench_learned_eval.py",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "sessions": args.sessions,
        "agents": {},
    }
    for spec in args.checkpoint:
        name, path = spec.split("=", 1)
        agent = load_trained_agent(name, path, world)
        runs: dict[str, dict[str, list[float]]] = {
            m: {"wall": [], "cpu": [], "load": []} for m in ("single", "batched")
        }
        outcomes: dict[str, Any] = {}
        for _ in range(args.repeats):
            for mode, n in (("single", 1), ("batched", 1024)):
                w, c = time.perf_counter(), time.process_time()
                metrics, out = evaluate(env, agent, "test", args.sessions, seed=0, num_envs=n)
                runs[mode]["wall"].append(time.perf_counter() - w)
                runs[mode]["cpu"].append(time.process_time() - c)
                runs[mode]["load"].append(os.getloadavg()[0])
                outcomes[mode] = (metrics, out)
        same = outcomes["single"] == outcomes["batched"]
        med = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in runs.items()}
        result["agents"][name] = {
            "checkpoint": path,
            "sr@15": outcomes["batched"][0].sr15,
            "identical_outcomes": same,
            "runs": runs,
            "median": med,
            "wall_ratio": med["single"]["wall"] / med["batched"]["wall"],
            "cpu_ratio": med["single"]["cpu"] / med["batched"]["cpu"],
        }
        print(f"{name}: identical={same} wall {med['single']['wall']:.1f}s -> "
              f"{med['batched']['wall']:.1f}s, cpu {med['single']['cpu']:.1f}s -> "
              f"{med['batched']['cpu']:.1f}s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(dumps_json(result, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
