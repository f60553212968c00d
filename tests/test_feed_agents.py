"""Feed agents: distributions, the bandit's learning, the oracle's bound, the SB3 PPO agent."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401
from recoworld.agents.feed import (
    EpsilonGreedyFeedAgent,
    MostPopularFeedAgent,
    OracleFeedAgent,
    RandomFeedAgent,
    make_feed_agent,
)
from recoworld.envs.feed_core import CANDIDATE_COLUMNS
from recoworld.errors import ConfigError, DatasetNotFoundError
from recoworld.evaluation import evaluate_feed, make_feed_vector_env


def _obs(seed=0):
    env = gym.make("recoworld/ShortVideo-v0")
    obs, _ = env.reset(seed=seed)
    return env, obs


def test_distributions_sum_to_one_single_and_batched():
    env, obs = _obs()
    vec = make_feed_vector_env("recoworld/ShortVideo-v0", 5)
    vobs, _ = vec.reset(seed=0)
    for agent in (RandomFeedAgent(), MostPopularFeedAgent(), EpsilonGreedyFeedAgent(3000),
                  OracleFeedAgent(env)):
        d = agent.action_dist(obs)
        assert d.shape == (16,) and d.sum() == pytest.approx(1.0) and d.min() >= 0
        assert isinstance(agent.predict(obs), int)
    for agent in (RandomFeedAgent(), MostPopularFeedAgent(), OracleFeedAgent(vec)):
        d = agent.action_dist(vobs)
        assert d.shape == (5, 16)
        np.testing.assert_allclose(d.sum(axis=1), 1.0)
        assert agent.predict(vobs).shape == (5,)


def test_most_popular_picks_highest_popularity_and_random_is_uniform():
    _, obs = _obs()
    col = CANDIDATE_COLUMNS.index("popularity")
    a = MostPopularFeedAgent().predict(obs)
    assert obs["candidates"][a, col] == obs["candidates"][:, col].max()
    agent = RandomFeedAgent(seed=2)
    draws = np.bincount([agent.predict(obs) for _ in range(3200)], minlength=16)
    assert draws.min() > 140 and draws.max() < 260


def test_epsilon_greedy_learns_the_best_item():
    _, obs = _obs()
    agent = EpsilonGreedyFeedAgent(3000, epsilon=0.2, prior_mean=0.0, seed=0)
    best = 5
    for a in range(16):
        agent.update(obs, a, 3.0 if a == best else 0.5)
    d = agent.action_dist(obs)
    assert np.argmax(d) == best
    assert d[best] == pytest.approx(0.8 + 0.2 / 16)
    assert d[0] == pytest.approx(0.2 / 16)


def test_oracle_refuses_foreign_observations_and_bad_objective():
    env, _ = _obs(0)
    _, other = _obs(5)
    with pytest.raises(ConfigError, match="not its environment's latest one"):
        OracleFeedAgent(env).predict(other)
    with pytest.raises(ConfigError, match=r"`objective` must be one of"):
        OracleFeedAgent(env, objective="clicks")
    with pytest.raises(ConfigError, match=r"unknown feed agent 'best'; known: random, most-popular"):
        make_feed_agent("best", env)


def test_oracle_bounds_the_baselines_on_watch_time():
    metrics = {}
    for name in ("random", "most_popular", "oracle"):
        env = make_feed_vector_env("recoworld/ShortVideo-v0", 100)
        metrics[name] = evaluate_feed(env, make_feed_agent(name, env, seed=0), 200, seed=1)
    assert metrics["oracle"].watch_time > metrics["most_popular"].watch_time
    assert metrics["most_popular"].watch_time > metrics["random"].watch_time
    for m in metrics.values():
        assert m.episodes == 200 and m.sessions == 200
        assert 0.0 <= m.like_rate <= 1.0 and 0.0 <= m.return_rate <= 1.0
        assert 0.0 < m.coverage <= 1.0 and 0.0 < m.diversity <= 1.0
        assert m.depth >= 1.0


def test_ppo_agent_trains_predicts_and_round_trips(tmp_path):
    from stable_baselines3.common.env_util import make_vec_env

    from recoworld.agents.feed_sb3 import FeedPPOAgent

    vec = make_vec_env("recoworld/ShortVideo-v0", n_envs=2, seed=0)
    agent = FeedPPOAgent(vec, n_steps=32, batch_size=32, n_epochs=1).learn(64)
    _, obs = _obs()
    d = agent.action_dist(obs)
    assert d.shape == (16,) and d.sum() == pytest.approx(1.0, abs=1e-5)
    a = agent.predict(obs)
    assert a == int(np.argmax(d))
    agent.save(tmp_path / "ppo.zip")
    again = FeedPPOAgent.load(tmp_path / "ppo.zip")
    np.testing.assert_allclose(again.action_dist(obs), d, rtol=1e-5)
    with pytest.raises(DatasetNotFoundError, match=r"checkpoint .* not found"):
        FeedPPOAgent.load(tmp_path / "missing.zip")
