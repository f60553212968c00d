"""Biased feed logs: logged propensities are the logging policy's probabilities, exactly."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import recoworld  # noqa: F401
from recoworld.agents.feed_policies import (
    EpsilonGreedyPopularityFeedAgent,
    PopularitySoftmaxFeedAgent,
    PositionBiasedSlateAgent,
    make_logging_policy,
)
from recoworld.datasets.feed_world import synthetic_feed_world
from recoworld.errors import ConfigError, DataError, EstimatorInputError
from recoworld.estimators import (
    BanditLog,
    FeedLog,
    SlateLog,
    TrajectoryLog,
    collect_feed_log,
    collect_slate_log,
    split_users,
)

FEED = "recoworld/ShortVideo-v0"
SLATE = "recoworld/ShortVideo-Slate-v0"
WORLD = synthetic_feed_world(n_users=60, n_items=120, n_categories=4, seed=3)


@pytest.mark.parametrize("policy", [PopularitySoftmaxFeedAgent(2.5),
                                    EpsilonGreedyPopularityFeedAgent(0.1)])
def test_logged_propensities_equal_the_policy_probabilities_exactly(policy):
    users = np.arange(10, 50)
    log = collect_feed_log(FEED, policy, episodes=6, seed=11, users=users, num_envs=3,
                           env_kwargs={"world": WORLD})
    # Slot 0 of the vector env is a single env seeded 11: replay its two episodes (episodes 0
    # and 1 of the log) with the logged actions and recompute the policy's distribution.
    from recoworld.estimators.feed_logs import world_with_users

    env = gym.make(FEED, world=world_with_users(WORLD, users))
    row = 0
    for ep in range(2):
        obs, info = env.reset(seed=11 if ep == 0 else None)
        assert log.user[row] == users[info["user"]]
        done = False
        while not done:
            assert log.episode[row] == ep
            dist = policy.action_dist(obs)
            np.testing.assert_array_equal(obs["candidate_ids"], log.candidates[row])
            np.testing.assert_array_equal(dist, log.logging_dist[row])  # bit for bit
            assert log.pscore[row] == dist[log.action[row]]
            obs, reward, term, trunc, info = env.step(int(log.action[row]))
            assert reward == pytest.approx(log.reward[row], abs=0)
            assert info["like"] == log.like[row] and info["depth"] - 1 == log.position[row]
            done = term or trunc
            assert bool(log.done[row]) == done
            row += 1
    assert row == int(np.searchsorted(log.episode, 2))
    # every logged user was one of those asked for, and the propensities lie in (0, 1]
    assert set(np.unique(log.user)) <= set(users.tolist())
    assert float(log.pscore.min()) > 0.0


def test_logged_actions_follow_the_logged_distribution():
    log = collect_feed_log(FEED, PopularitySoftmaxFeedAgent(1.0), episodes=200, seed=0,
                           num_envs=20, env_kwargs={"world": WORLD})
    # E[1 / pscore of the drawn action] = K exactly when actions are drawn from the logged dist
    k = log.n_candidates
    ratio = np.mean(1.0 / log.pscore) / k
    frequent = np.mean(log.pscore)  # = sum_a p(a)^2 per row in expectation
    expected = np.mean((log.logging_dist**2).sum(axis=1))
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert frequent == pytest.approx(expected, rel=0.03)


def test_feed_log_round_trips_and_reads_as_a_trajectory_log(tmp_path):
    log = collect_feed_log(FEED, PopularitySoftmaxFeedAgent(1.0), episodes=8, seed=2,
                           num_envs=4, env_kwargs={"world": WORLD}, policy_name="softmax:1")
    path = tmp_path / "log.parquet"
    log.save(path)
    back = FeedLog.load(path)
    for name in ("episode", "step", "position", "user", "features", "candidates",
                 "logging_dist", "action", "item", "reward", "watch_ratio", "like", "done"):
        np.testing.assert_array_equal(getattr(back, name), getattr(log, name))
    assert back.policy == "softmax:1" and back.n_items == WORLD.catalogue.n_items
    traj = TrajectoryLog.load(path)
    np.testing.assert_array_equal(traj.column("pscore"), log.pscore)
    assert traj.n_episodes == 8
    # a plain trajectory log is not a feed log
    plain = tmp_path / "plain.parquet"
    traj.save(plain)
    with pytest.raises(DataError, match="without the feed columns"):
        FeedLog.load(plain)


def test_selecting_users_keeps_whole_episodes():
    log = collect_feed_log(FEED, PopularitySoftmaxFeedAgent(1.0), episodes=12, seed=5,
                           num_envs=4, env_kwargs={"world": WORLD})
    some = np.unique(log.user)[:3]
    part = log.select_users(some)
    assert set(np.unique(part.user)) == set(some.tolist())
    assert part.episode[0] == 0 and np.all(np.diff(part.episode) >= 0)
    assert part.n_rows == int(np.isin(log.user, some).sum())
    with pytest.raises(EstimatorInputError, match="whole episodes"):
        log.select(np.arange(log.n_rows) == 1)


def test_slate_log_propensities_are_exact_and_rewards_add_up():
    policy = PositionBiasedSlateAgent(slate_size=4, beta=2.0, decay=0.5)
    log = collect_slate_log(SLATE, policy, episodes=3, seed=4, env_kwargs={"world": WORLD,
                                                                            "slate_size": 4})
    env = gym.make(SLATE, world=WORLD, slate_size=4)
    row = 0
    for ep in range(3):
        obs, _ = env.reset(seed=4 if ep == 0 else None)
        done = False
        while not done:
            marg = policy.slate_marginals(obs)
            np.testing.assert_array_equal(marg, log.logging_marginals[row])
            slate = log.slate[row]
            expected = marg[slate, np.arange(4)]
            np.testing.assert_array_equal(log.pscore_item_position[row], expected)
            assert log.pscore_slate[row] == np.prod(expected)
            np.testing.assert_array_equal(log.pscore_cascade[row], np.cumprod(expected))
            obs, reward, term, trunc, info = env.step(slate)
            assert log.slate_reward[row] == pytest.approx(reward, rel=1e-12)
            np.testing.assert_array_equal(log.shown[row], info["shown"])
            done = term or trunc
            row += 1
    assert row == log.n_slates


def test_slate_log_round_trips_and_reads_as_a_bandit_log(tmp_path):
    policy = PositionBiasedSlateAgent(slate_size=3, beta=1.0)
    log = collect_slate_log(SLATE, policy, episodes=4, seed=1, max_slates=2,
                            env_kwargs={"world": WORLD, "slate_size": 3})
    assert np.all(log.step <= 1)
    path = tmp_path / "slates.parquet"
    log.save(path)
    back = SlateLog.load(path)
    for name in ("episode", "step", "user", "features", "candidates", "slate", "reward",
                 "shown", "logging_marginals"):
        np.testing.assert_array_equal(getattr(back, name), getattr(log, name))
    bandit = BanditLog.load(path)
    assert bandit.len_list == 3 and bandit.n_rows == 3 * log.n_slates
    np.testing.assert_array_equal(bandit.pscore, log.pscore_item_position.reshape(-1))


def test_policy_specs_and_bad_input():
    assert make_logging_policy("uniform").beta == 0.0
    assert make_logging_policy("softmax:2.5").beta == 2.5
    assert make_logging_policy("epsilon:0.2").epsilon == 0.2
    with pytest.raises(ConfigError, match="uniform, softmax:BETA or epsilon:EPSILON"):
        make_logging_policy("greedy")
    with pytest.raises(ConfigError, match="'x' is not a number"):
        make_logging_policy("softmax:x")
    with pytest.raises(ConfigError, match=r"`epsilon` must be in \(0, 1\]"):
        EpsilonGreedyPopularityFeedAgent(0.0)
    with pytest.raises(ConfigError, match="`users` must be population rows in \\[0, 60\\)"):
        collect_feed_log(FEED, PopularitySoftmaxFeedAgent(0.0), 2, 0, users=[5, 60],
                         env_kwargs={"world": WORLD})
    with pytest.raises(ConfigError, match="builds slates of 2, the env"):
        collect_slate_log(SLATE, PositionBiasedSlateAgent(2, 1.0), 1, 0,
                          env_kwargs={"world": WORLD})
    a, b = split_users(10, (0.3, 0.7), seed=0)
    assert len(a) == 3 and len(b) == 7 and not set(a) & set(b)
    with pytest.raises(ConfigError, match="sum to <= 1"):
        split_users(10, (0.6, 0.6), seed=0)
