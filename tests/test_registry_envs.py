"""Registry-wide checks: Gymnasium's check_env and a same-seed rollout on every registered id."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import recoworld  # noqa: F401  (registers the ids)
from recoworld.envs import RewardConfig
from recoworld.registration import CONVERSATIONAL_IDS, FEED_IDS, all_ids

# Ids that need a file the user brings: built with a fixture instead (see their own tests).
NEEDS_USER_FILE: set[str] = {"recoworld/KuaiRec-Replay-v0"}


def _ids() -> list[str]:
    return [i for i in all_ids() if i not in NEEDS_USER_FILE]


def _rollout(env: gymnasium.Env, seed: int, steps: int = 40) -> list:
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    trace = []
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        trace.append((float(r), bool(term), bool(trunc), _digest(obs)))
        if term or trunc:
            obs, _ = env.reset()
    return trace


def _digest(obs) -> tuple:
    if isinstance(obs, dict):
        return tuple((k, _digest(v)) for k, v in sorted(obs.items()))
    arr = np.asarray(obs)
    return (arr.shape, float(arr.astype(np.float64).sum()), arr.tobytes()[:64])


@pytest.mark.parametrize("env_id", _ids())
def test_check_env(env_id):
    env = gymnasium.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", _ids())
def test_same_seed_same_rollout(env_id):
    a = _rollout(gymnasium.make(env_id), seed=7)
    b = _rollout(gymnasium.make(env_id), seed=7)
    assert a == b
    c = _rollout(gymnasium.make(env_id), seed=8)
    assert a != c


@pytest.mark.parametrize("env_id", [i for i in _ids() if i in CONVERSATIONAL_IDS])
def test_conversational_horizon_follows_max_turns(env_id):
    """Non-default keyword arguments reach the env: 18 turns = 17 agent actions, horizon reward last."""
    rewards = RewardConfig(until_horizon=-0.7, ask_fail=-0.2)
    env = gymnasium.make(env_id, max_turns=18, rec_size=5, rewards=rewards)
    base = env.unwrapped
    assert base.max_turns == 18 and base.rec_size == 5
    assert env.spec is not None and env.spec.max_episode_steps is None
    obs, info = env.reset(seed=0, options={"split": "test", "index": 0})
    opening = info["accepted"][0]
    # Asking the opening attribute again keeps the candidates (the target among them) unchanged.
    steps, last = 0, None
    while True:
        obs, reward, term, trunc, info = env.step(base.ask(_question_of(base.world, opening)))
        steps += 1
        last = (reward, term, trunc)
        if term or trunc:
            break
    assert steps == 17
    assert last == (-0.7, False, True)
    assert info["turn"] == 18


def _question_of(world, attribute: int) -> int:
    if world.question_mode == "enumerated":
        return int(world.parent_children[:, attribute].nonzero()[0][0])
    return attribute


@pytest.mark.parametrize("env_id", [i for i in _ids() if i in FEED_IDS])
def test_feed_horizon_follows_max_episode_steps(env_id):
    env = gymnasium.make(env_id, max_episode_steps=7, history_length=4)
    assert env.spec is not None and env.spec.max_episode_steps == 7
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    steps = 0
    while True:
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        steps += 1
        if term or trunc:
            break
    assert steps <= 7
    assert trunc == (steps == 7 and not term)
    assert env.unwrapped.settings.history_length == 4
