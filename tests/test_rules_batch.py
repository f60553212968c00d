"""Batched rule agents and the batched evaluator: the same decisions and metrics as one at a time."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from crs_helpers import enumerated_world

import recoworld  # noqa: F401  (registers the ids)
from recoworld.agents.rules import AbsGreedyAgent, MaxEntropyAgent, RandomAgent, make_rule_agent
from recoworld.datasets.synthetic import default_world
from recoworld.envs import ConversationalRecEnv, ConversationalVectorEnv
from recoworld.envs.crs_wrappers import AskOrRecommendWrapper
from recoworld.evaluation import _batched_env, evaluate
from recoworld.scoring import PopularityScorer
from recoworld.users import TargetItemUserConfig

AGENTS = {"random": RandomAgent, "max-entropy": MaxEntropyAgent, "abs-greedy": AbsGreedyAgent}


class _ReversePopularity(PopularityScorer):
    """A scorer with no batched form (a subclass): the agent falls back to one row at a time."""

    def scores(self, user, accepted, rejected, candidates):
        return -super().scores(user, accepted, rejected, candidates)


def _rows(obs, i):
    return {k: v[i] for k, v in obs.items()}


@pytest.mark.parametrize("name", list(AGENTS))
@pytest.mark.parametrize("world_kind", ["binary", "enumerated"])
@pytest.mark.parametrize("hint", [False, True], ids=["masks", "env-lists"])
def test_predict_batch_equals_predict_on_each_row(name, world_kind, hint):
    world = default_world() if world_kind == "binary" else enumerated_world()
    n = 6
    vec = ConversationalVectorEnv(n, world=world, rec_size=4)
    batched = AGENTS[name](world, rec_size=4, seed=1)
    single = AGENTS[name](world, rec_size=4, seed=1)
    obs, _ = vec.reset(seed=0)
    kinds = set()
    for _ in range(60):  # long enough for cache hits, recounts and episode ends
        action = batched.predict_batch(obs, candidates=vec.candidate_lists() if hint else None)
        for i in range(n):  # in row order, so the random rule draws in the same order
            expected = single.predict(_rows(obs, i))
            assert action["kind"][i] == expected["kind"]
            kinds.add(int(expected["kind"]))
            if expected["kind"] == 0:
                assert action["question"][i] == expected["question"]
            else:
                np.testing.assert_array_equal(action["items"][i], expected["items"])
        obs, *_ = vec.step(action)
    assert kinds == ({1} if name == "abs-greedy" else {0, 1})


def test_only_active_rows_are_decided():
    world = default_world()
    vec = ConversationalVectorEnv(3, world=world)
    obs, _ = vec.reset(seed=0)
    batched, single = RandomAgent(world, seed=5), RandomAgent(world, seed=5)
    active = np.array([True, False, True])
    action = batched.predict_batch(obs, active)
    assert action["kind"][1] == 0 and action["question"][1] == 0
    for i in (0, 2):
        assert single.predict(_rows(obs, i))["kind"] == action["kind"][i]
    assert batched.rng.random() == single.rng.random()  # the inactive row drew nothing


def test_a_scorer_without_batched_form_is_used_row_by_row():
    world = default_world()
    vec = ConversationalVectorEnv(4, world=world)
    obs, _ = vec.reset(seed=0)
    agent = AbsGreedyAgent(world, scorer=_ReversePopularity(world))
    action = agent.predict_batch(obs)
    for i in range(4):
        np.testing.assert_array_equal(action["items"][i], agent.predict(_rows(obs, i))["items"])


@pytest.mark.parametrize("name", ["max-entropy", "abs-greedy", "random"])
@pytest.mark.parametrize("world_kind", ["binary", "enumerated"])
def test_evaluate_batched_equals_one_session_at_a_time(name, world_kind):
    world = default_world() if world_kind == "binary" else enumerated_world()
    env = ConversationalRecEnv(world)
    single = evaluate(env, make_rule_agent(name, world, seed=2), "test", 300, seed=4, num_envs=1)
    batched = evaluate(env, make_rule_agent(name, world, seed=2), "test", 300, seed=4, num_envs=37)
    assert batched == single
    assert single[0].sessions == 300
    # random draws numbers of its own: it is never batched, so equality holds trivially there
    assert (_batched_env(env, make_rule_agent(name, world), "test", 37) is None) == (name == "random")


@pytest.mark.parametrize("env_id", ["recoworld/LastFMStar-CRS-v0", "recoworld/Yelp-CRS-v0"])
@pytest.mark.parametrize("name", ["max-entropy", "abs-greedy"])
def test_evaluate_batched_equals_single_path_on_real_data(env_id, name):
    env = gymnasium.make(env_id)
    world = env.unwrapped.world
    single = evaluate(env, make_rule_agent(name, world), "test", 250, seed=0, num_envs=1)
    batched = evaluate(env, make_rule_agent(name, world), "test", 250, seed=0, num_envs=64)
    assert batched == single
    assert single[0].sr15 > 0


def test_evaluate_stays_one_at_a_time_where_batching_would_change_the_draws():
    world = default_world()
    agent = MaxEntropyAgent(world)
    noisy = ConversationalRecEnv(world, user_config=TargetItemUserConfig(answer_flip_prob=0.1))
    assert _batched_env(noisy, agent, "test", 8) is None  # the user draws during the session
    wrapped = AskOrRecommendWrapper(ConversationalRecEnv(world))
    assert _batched_env(wrapped, agent, "test", 8) is None  # a wrapper may change the dynamics
    rendering = ConversationalRecEnv(world, render_mode="ansi")
    assert _batched_env(rendering, agent, "test", 8) is None  # its transcript is the point
    plain = gymnasium.make("recoworld/Synthetic-CRS-v0")
    assert isinstance(_batched_env(plain, agent, "test", 8), ConversationalVectorEnv)
    assert _batched_env(plain, agent, "test", 1) is None
    m_noisy, _ = evaluate(noisy, agent, "test", 50, seed=0)
    assert m_noisy == evaluate(noisy, agent, "test", 50, seed=0, num_envs=1)[0]
