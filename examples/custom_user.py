"""Plug your own user simulator into the conversational environment, top to bottom.

A user simulator is any object with the six methods of
:class:`recoworld.users.conversational.ConversationalUser`. This one answers truthfully but, with
probability ``slip``, says "no" to an attribute the target has (a forgetful user), and leaves
early when its patience runs out. Run: ``.venv/bin/python examples/custom_user.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

import recoworld  # noqa: F401
from recoworld.agents import make_agent
from recoworld.datasets import load_world
from recoworld.envs import ConversationalRecEnv
from recoworld.evaluation import evaluate
from recoworld.users import ConversationalUser

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"


@dataclass(frozen=True)
class Settings:
    slip: float = 0.2
    patience: int = 6
    sessions: int = 20 if SMOKE else 1000
    seed: int = 0


class ForgetfulUser:
    """Truthful, except that it denies a wanted attribute with probability ``slip``."""

    def __init__(self, world: Any, slip: float, patience: int) -> None:
        self.world, self.slip, self.patience = world, slip, patience

    def start(self, user: int, target: int, rng: np.random.Generator) -> int:
        self.target = target
        self.wanted = self.world.attributes_of(target)
        self.rejections = 0
        return int(rng.choice(self.wanted))

    def answer_binary(self, attribute: int, rng: np.random.Generator) -> bool:
        has = bool(np.isin(attribute, self.wanted))
        return has and rng.random() >= self.slip

    def answer_enumerated(self, parent: int, rng: np.random.Generator) -> np.ndarray:
        children = self.world.children_of(parent)
        return np.intersect1d(children, self.wanted).astype(np.int64)

    def judge(self, items: np.ndarray, rng: np.random.Generator) -> bool:
        return bool(np.isin(self.target, items))

    def wants_to_leave(self, rng: np.random.Generator) -> bool:
        self.rejections += 1
        return self.rejections >= self.patience

    def step_info(self) -> dict[str, Any]:
        return {}


cfg = Settings()
world = load_world("synthetic")
user = ForgetfulUser(world, cfg.slip, cfg.patience)
assert isinstance(user, ConversationalUser)  # the protocol is runtime-checkable
agent = make_agent("max-entropy", world, seed=cfg.seed)
for name, env in [("statistical (default)", ConversationalRecEnv(world, split="test")),
                  ("forgetful (custom)", ConversationalRecEnv(world, user=user, split="test"))]:
    m, _ = evaluate(env, agent, split="test", sessions=cfg.sessions, seed=cfg.seed)
    print(f"{name:<24} SR@15 = {m.sr15:.3f}  AT = {m.avg_turns:.2f}")
