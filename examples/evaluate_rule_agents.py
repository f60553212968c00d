"""Evaluate the three rule baselines on a conversational environment, top to bottom.

Run: ``.venv/bin/python examples/evaluate_rule_agents.py`` (the bundled synthetic world; set
``ENV_ID`` to ``recoworld/LastFMStar-CRS-v0`` with ``RECOWORLD_DATA`` pointing at the data).
``RECOWORLD_EXAMPLE_SMOKE=1`` shrinks every budget (what the smoke test does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import gymnasium

import recoworld  # noqa: F401  (registers the environment ids)
from recoworld.agents import make_agent
from recoworld.evaluation import evaluate

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"


@dataclass(frozen=True)
class Settings:
    env_id: str = "recoworld/Synthetic-CRS-v0"
    agents: tuple[str, ...] = ("random", "max-entropy", "abs-greedy")
    sessions: int = 20 if SMOKE else 1000
    seed: int = 0


cfg = Settings()
env = gymnasium.make(cfg.env_id)
world = env.unwrapped.world
print(f"{cfg.env_id}: {world.n_items} items, {world.n_attributes} attributes")
print(f"{'agent':<12} {'SR@5':>6} {'SR@10':>6} {'SR@15':>6} {'AT':>6} {'hDCG':>6}")
for name in cfg.agents:
    agent = make_agent(name, world, seed=cfg.seed)
    m, outcomes = evaluate(env, agent, split="test", sessions=cfg.sessions, seed=cfg.seed)
    print(f"{name:<12} {m.sr5:6.3f} {m.sr10:6.3f} {m.sr15:6.3f} {m.avg_turns:6.2f} {m.hdcg:6.3f}")
