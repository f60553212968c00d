"""SCPR's and EAR's training loops, one conversation at a time vs on a vector env, side by side.

Usage (from the repository root):

    .venv/bin/python benchmarks/bench_scpr_training.py --data-dir ../shared/data \
        --sessions 2000 --repeats 3 --out benchmarks/results/scpr_training_speed.json

Trains the FM embeddings once (timed), then, interleaved ``--repeats`` times so both see the same
machine load, the whole ``learn`` loop of SCPR on LastFM's ``valid`` sessions for ``--sessions``
training sessions with one model selection on the 500 held-out sessions at the end: the published
configuration (``num_envs=1``: one session at a time, a gradient step of 64 transitions per
environment step) and the batched one of ``benchmarks/train_crs.py``'s ``batched-50k`` variant
(64 conversations at a time on a vector env, a gradient step of 256 transitions per 16 new ones).
With ``--agent ear``: EAR's REINFORCE phase (no imitation phase, ``pretrain_sessions=0``), its
16 sessions per gradient step played one after another or 16 at a time (``num_envs=16``: the same
update). Reports sessions per second of each (medians), the ratio, and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from recoworld.agents.ear import EARAgent, EARConfig
from recoworld.agents.fm import train_fm
from recoworld.agents.learner import LearnedCRSAgent
from recoworld.agents.scpr import SCPRAgent, SCPRConfig
from recoworld.datasets.registry import load_world
from recoworld.outputs import dumps_json

BATCHED = {"num_envs": 64, "transitions_per_update": 16, "batch_size": 256}
EAR_BATCHED = {"num_envs": 16}


def _agent(name: str, batched: bool, sessions: int, world: Any, seed: int, emb: Any) -> LearnedCRSAgent:
    if name == "scpr":
        cfg = SCPRConfig(episodes=sessions, eval_every=sessions, **(BATCHED if batched else {}))
        return SCPRAgent(world, cfg, seed=seed, embeddings=emb)
    ear = EARConfig(episodes=sessions, eval_every=sessions, pretrain_sessions=0,
                    **(EAR_BATCHED if batched else {}))  # fmt: skip
    return EARAgent(world, ear, seed=seed, embeddings=emb)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--agent", choices=("scpr", "ear"), default="scpr")
    p.add_argument("--sessions", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/scpr_training_speed.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    world = load_world(args.dataset, args.data_dir)
    t0 = time.perf_counter()
    emb = train_fm(world, SCPRConfig().fm, seed=args.seed)
    fm_s = time.perf_counter() - t0
    runs: dict[str, list[float]] = {"single": [], "batched": []}
    loads: list[float] = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for name in ("single", "batched"):
            agent = _agent(args.agent, name == "batched", args.sessions, world, args.seed, emb)
            t = time.perf_counter()
            agent.learn()
            runs[name].append(args.sessions / (time.perf_counter() - t))
            loads.append(os.getloadavg()[0])
            print(f"{name}: {runs[name][-1]:.1f} sessions/s", flush=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    result: dict[str, Any] = {
        "command": "benchmarks/bench_scpr_training.py",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.machine(),
        "dataset": args.dataset,
        "agent": args.agent,
        "sessions": args.sessions,
        "fm_seconds": fm_s,
        "batched_settings": BATCHED if args.agent == "scpr" else EAR_BATCHED,
        "sessions_per_second": runs,
        "median": med,
        "batched_over_single": med["batched"] / med["single"],
        "load_average_1min": loads,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(dumps_json(result, indent=1, sort_keys=False) + "\n")
    print(dumps_json(result, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
