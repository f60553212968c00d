"""Train stable-baselines3 PPO to decide "ask or recommend" (SCPR's action space), top to bottom.

The wrapper asks the maximum-entropy reachable question when the policy says "ask" and
recommends the top-10 candidates by popularity when it says "recommend"; PPO learns when to do
which. Run: ``.venv/bin/python examples/train_ppo_conversational.py``.
``RECOWORLD_EXAMPLE_SMOKE=1`` shrinks every budget (what the smoke test does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO

import recoworld  # noqa: F401
from recoworld.envs import AskOrRecommendWrapper

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"


@dataclass(frozen=True)
class Settings:
    env_id: str = "recoworld/Synthetic-CRS-v0"
    timesteps: int = 256 if SMOKE else 30_000
    eval_sessions: int = 20 if SMOKE else 500
    n_steps: int = 128 if SMOKE else 1024
    seed: int = 0


cfg = Settings()
torch.set_num_threads(1)


def make_env(split: str) -> gymnasium.Env:
    return AskOrRecommendWrapper(gymnasium.make(cfg.env_id, split=split))


model = PPO("MlpPolicy", make_env("valid"), n_steps=cfg.n_steps, batch_size=64, seed=cfg.seed,
            device="cpu", verbose=0)
model.learn(total_timesteps=cfg.timesteps)

# evaluate on the first test sessions: success within the 15-turn horizon
env = make_env("test")
successes = []
for i in range(cfg.eval_sessions):
    obs, info = env.reset(seed=cfg.seed if i == 0 else None, options={"index": i})
    done = False
    while not done:
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, info = env.step(int(action))
        done = terminated or truncated
    successes.append(bool(info["success"]))
print(f"PPO ask-or-recommend after {cfg.timesteps} steps: SR@15 = {np.mean(successes):.3f} "
      f"over {cfg.eval_sessions} test sessions")
