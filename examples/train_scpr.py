"""Train SCPR (FM item scores + adjacent-attribute questions + a DQN deciding ask or recommend)
and compare it with the max-entropy rule on the test sessions, top to bottom.

Run: ``.venv/bin/python examples/train_scpr.py`` (the bundled synthetic world; on LastFM use
``ENV_ID = "recoworld/LastFM-CRS-v0"`` with ``RECOWORLD_DATA`` set, or ``recoworld train``).
``RECOWORLD_EXAMPLE_SMOKE=1`` shrinks every budget (what the smoke test does).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import gymnasium
import torch

import recoworld  # noqa: F401
from recoworld.agents import make_agent, make_trainable_agent
from recoworld.evaluation import evaluate

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"


@dataclass(frozen=True)
class Settings:
    env_id: str = "recoworld/Synthetic-CRS-v0"
    train_sessions: int = 40 if SMOKE else 3000  # sessions of the valid split
    eval_sessions: int = 20 if SMOKE else 1000  # first sessions of the test split
    seed: int = 0


cfg = Settings()
torch.set_num_threads(1)
env = gymnasium.make(cfg.env_id)
world = env.unwrapped.world

scpr = make_trainable_agent("scpr", world, seed=cfg.seed)
scpr.config = dataclasses.replace(scpr.config, episodes=cfg.train_sessions,
                                  eval_every=max(1, cfg.train_sessions // 4))
scpr.learn()
print("model selection (sessions, held-out SR):", scpr.selection_history)

for name, agent in [("max-entropy", make_agent("max-entropy", world, seed=cfg.seed)),
                    ("scpr", scpr)]:
    m, _ = evaluate(env, agent, split="test", sessions=cfg.eval_sessions, seed=cfg.seed)
    print(f"{name:<12} SR@15 = {m.sr15:.3f}  AT = {m.avg_turns:.2f}  hDCG = {m.hdcg:.3f}")
