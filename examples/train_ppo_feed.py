"""Train PPO on the short-video feed and compare it with the baselines, top to bottom.

Run: ``.venv/bin/python examples/train_ppo_feed.py``.
``RECOWORLD_EXAMPLE_SMOKE=1`` shrinks every budget (what the smoke test does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from stable_baselines3.common.env_util import make_vec_env

import recoworld  # noqa: F401
from recoworld.agents import FeedPPOAgent, make_feed_agent
from recoworld.evaluation import evaluate_feed, make_feed_vector_env

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"


@dataclass(frozen=True)
class Settings:
    env_id: str = "recoworld/ShortVideo-v0"
    timesteps: int = 256 if SMOKE else 50_000
    n_steps: int = 32 if SMOKE else 256
    eval_episodes: int = 8 if SMOKE else 256
    seed: int = 0


cfg = Settings()
torch.set_num_threads(1)

train_env = make_vec_env(cfg.env_id, n_envs=4, seed=cfg.seed)
ppo = FeedPPOAgent(train_env, seed=cfg.seed, n_steps=cfg.n_steps, batch_size=4 * cfg.n_steps)
ppo.learn(cfg.timesteps)

print(f"{'agent':<16} {'watch time/session':>20} {'depth':>7} {'return rate':>12}")
for name in ("random", "most-popular", "ppo", "oracle"):
    env = make_feed_vector_env(cfg.env_id, num_envs=min(64, cfg.eval_episodes))
    agent = ppo if name == "ppo" else make_feed_agent(name, env, seed=cfg.seed)
    m = evaluate_feed(env, agent, cfg.eval_episodes, seed=cfg.seed)
    print(f"{name:<16} {m.watch_time:20.1f} {m.depth:7.2f} {m.return_rate:12.3f}")
