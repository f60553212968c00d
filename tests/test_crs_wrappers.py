"""The SB3-facing wrappers of the conversational environment."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from crs_helpers import FixedOpeningUser
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from recoworld.datasets.synthetic import default_world
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.envs.crs_wrappers import (
    CANDIDATE_BUCKETS,
    AskOrRecommendWrapper,
    AttributeOrRecommendWrapper,
)
from recoworld.errors import InvalidActionError


@pytest.mark.parametrize("wrapper", [AskOrRecommendWrapper, AttributeOrRecommendWrapper])
@pytest.mark.parametrize("env_id", ["recoworld/Synthetic-CRS-v0", "recoworld/Yelp-CRS-v0"])
def test_sb3_check_env(wrapper, env_id):
    env = wrapper(gymnasium.make(env_id))
    sb3_check_env(env, warn=False)


def test_ask_or_recommend_asks_max_entropy_question(tiny_world):
    env = AskOrRecommendWrapper(
        ConversationalRecEnv(tiny_world, user=FixedOpeningUser(tiny_world, 0))
    )
    obs, info = env.reset(seed=0, options={"user": 0, "target": 3})
    assert env.chosen_question() == 1  # attributes 1, 2, 3 split items 0..7 evenly; smallest id
    assert info["action_mask"].tolist() == [True, True]
    obs, r, *_ = env.step(0)
    assert r == pytest.approx(0.01) and env.base.accepted == [0, 1]
    assert obs[0] == 1.0  # history: accepted question
    n_hist = env.base.max_turns - 1
    bucket = obs[n_hist : n_hist + len(CANDIDATE_BUCKETS) + 1]
    assert bucket.tolist() == [1.0] + [0.0] * len(CANDIDATE_BUCKETS)  # 4 candidates <= 10


def test_ask_or_recommend_recommend_and_invalid(tiny_world):
    env = AskOrRecommendWrapper(ConversationalRecEnv(tiny_world))
    env.reset(seed=0, options={"user": 0, "target": 0})
    obs, r, term, _, info = env.step(1)  # popularity top-10 of the candidates includes item 0
    assert term and info["success"]
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match="action must be 0 \\(ask\\) or 1"):
        env.step(2)


def test_weighted_entropy_uses_scores(tiny_world):
    class FavourItemZero:
        def scores(self, user, accepted, rejected, candidates):
            return np.where(candidates == 0, 20.0, -20.0)

    env = AskOrRecommendWrapper(
        ConversationalRecEnv(tiny_world), scorer=FavourItemZero(), weighted_entropy=True
    )
    env.reset(seed=0, options={"user": 0, "target": 3})
    # With nearly all weight on item 0, every attribute it holds has p ~ 1: entropy ~ 0.
    assert env.observation_space.contains(env._features())
    assert float(env._features()[-1]) < 0.01


def test_attribute_or_recommend_state_and_mask(tiny_world):
    env = AttributeOrRecommendWrapper(ConversationalRecEnv(tiny_world))
    assert env.action_space.n == tiny_world.n_questions + 1
    obs, info = env.reset(seed=0, options={"user": 0, "target": 7})
    n_q = tiny_world.n_questions
    opening = env.base.accepted[0]
    assert opening == 0
    np.testing.assert_allclose(obs[:n_q], [0, 1, 1, 1, 0, 0])  # entropies over items 0..7
    np.testing.assert_allclose(obs[n_q : 2 * n_q], [1, 1, 0, 0, 0, 0])  # user 0 likes 0 and 1
    obs, r, *_, info = env.step(1)  # ask 1: target 7 lacks it
    assert r == pytest.approx(-0.1)
    assert info["action_mask"].tolist() == [True, False, True, True, True, True, True]
    assert obs[2 * n_q] == -1.0  # history code of a rejected question
    _, r, term, _, info = env.step(n_q)  # recommend
    assert isinstance(info["success"], bool)


def test_wrappers_on_default_world_roll_out():
    env = AttributeOrRecommendWrapper(ConversationalRecEnv(default_world()))
    obs, _ = env.reset(seed=1)
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
