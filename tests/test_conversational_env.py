"""Protocol tests of ConversationalRecEnv on a tiny hand-built world (exact values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from crs_helpers import FixedOpeningUser

from recoworld.envs.conversational import ConversationalRecEnv, RewardConfig
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.evaluation import hdcg
from recoworld.users.target_item import TargetItemUserConfig


def _env(world, opening=0, **kw):
    return ConversationalRecEnv(
        world, user=FixedOpeningUser(world, opening, kw.pop("config", None)), **kw
    )


def test_opening_is_turn_one_and_filters_candidates(tiny_world):
    env = _env(tiny_world, opening=0)
    obs, info = env.reset(seed=0, options={"user": 0, "target": 3})
    assert obs["turn"] == 1 and info["turn"] == 1
    assert env.candidate_items().tolist() == list(range(8))
    assert obs["candidates"].tolist() == [1] * 8 + [0] * 4
    assert info["accepted"] == [0] and info["rejected"] == []
    assert obs in env.observation_space


def test_exact_rewards_filtering_and_removal(tiny_world):
    env = _env(tiny_world, opening=0)
    env.reset(seed=0, options={"user": 0, "target": 3})
    # Ask attribute 1: target 3 holds it -> accepted, candidates = items holding 0 and 1.
    obs, r, term, trunc, info = env.step(env.ask(1))
    assert r == pytest.approx(0.01) and not term and not trunc
    assert env.candidate_items().tolist() == [0, 1, 2, 3]
    assert info["accepted"] == [0, 1] and info["turn"] == 2
    # Ask attribute 2: target lacks it -> rejected; rejected attributes filter nothing.
    obs, r, term, trunc, info = env.step(env.ask(2))
    assert r == pytest.approx(-0.1)
    assert info["rejected"] == [2] and env.candidate_items().tolist() == [0, 1, 2, 3]
    assert obs["rejected"][2] == 1 and obs["asked"][2] == 1
    # A failed recommendation removes exactly the recommended candidates.
    obs, r, term, trunc, info = env.step(env.recommend([0, 1, 2, 10]))
    assert r == pytest.approx(-0.1) and not term
    assert env.candidate_items().tolist() == [3] and info["candidate_count"] == 1
    # Success: +1, terminated, rank of the target in the list.
    obs, r, term, trunc, info = env.step(env.recommend([5, 3]))
    assert r == pytest.approx(1.0) and term and not trunc
    assert info["success"] and info["rank"] == 2 and info["turn"] == 5
    with pytest.raises(InvalidActionError, match="session is over"):
        env.step(env.ask(0))


def test_horizon_is_fifteen_turns_with_opening_as_turn_one(tiny_world):
    env = _env(tiny_world, opening=0)
    env.reset(seed=0, options={"user": 0, "target": 7})
    rewards = []
    for _ in range(14):
        _, r, term, trunc, info = env.step(env.ask(5))
        rewards.append(r)
        if term or trunc:
            break
    assert len(rewards) == 14, "the agent has exactly 14 actions"
    assert rewards[:13] == [pytest.approx(-0.1)] * 13
    assert rewards[13] == pytest.approx(-0.3), "reaching T replaces the step's reward"
    assert trunc and not term and info["turn"] == 15 and not info["success"]


def test_custom_rewards(tiny_world):
    env = _env(tiny_world, opening=0, rewards=RewardConfig.ear())
    env.reset(seed=0, options={"user": 0, "target": 3})
    assert env.step(env.ask(1))[1] == pytest.approx(0.1)


def test_enumerated_answers(tiny_enum_world):
    env = _env(tiny_enum_world, opening=0)
    obs, _ = env.reset(seed=0, options={"user": 0, "target": 4})  # target holds 0, 2, 3
    assert env.action_space["question"].n == 3
    obs, r, *_, info = env.step(env.ask(1))  # children 2, 3: both held
    assert r == pytest.approx(0.01) and info["accepted"] == [0, 2, 3]
    assert env.candidate_items().tolist() == [0, 4]
    obs, r, *_, info = env.step(env.ask(2))  # children 4, 5: none held
    assert r == pytest.approx(-0.1) and info["rejected"] == [4, 5]
    obs, r, *_, info = env.step(env.ask(0))  # children 0 (already accepted), 1 (not held)
    assert r == pytest.approx(0.01) and info["rejected"] == [4, 5, 1]
    assert obs["asked"].tolist() == [1, 1, 1]


def test_empty_candidate_set_terminates(tiny_world):
    cfg = TargetItemUserConfig(answer_flip_prob=1.0)  # every answer is wrong
    env = _env(tiny_world, opening=0, config=cfg)
    env.reset(seed=0, options={"user": 0, "target": 3})
    _, r, term, trunc, info = env.step(env.ask(4))  # flipped "yes" to 4: no item holds 0 and 4
    assert info["candidate_count"] == 0 and term and not trunc
    assert r == pytest.approx(-0.1)


def test_impatient_user_leaves_after_rejection(tiny_world):
    env = _env(tiny_world, opening=0, config=TargetItemUserConfig(leave_prob=1.0))
    env.reset(seed=0, options={"user": 0, "target": 3})
    _, _, term, _, _ = env.step(env.ask(1))  # accepted: stays
    assert not term
    _, _, term, trunc, info = env.step(env.ask(2))  # rejected: leaves
    assert term and not trunc and not info["success"]


def test_default_user_opens_with_a_target_attribute(tiny_world):
    env = ConversationalRecEnv(tiny_world)
    seen = set()
    for seed in range(30):
        _, info = env.reset(seed=seed, options={"user": 0, "target": 0})
        seen.add(info["accepted"][0])
    assert seen == {0, 1, 2, 3}, "the opening is drawn uniformly from the target's attributes"


def test_split_sessions_and_pinned_index(tiny_world):
    env = ConversationalRecEnv(tiny_world, split="test")
    _, info = env.reset(seed=0, options={"split": "valid", "index": 1})
    assert (info["user"], info["target"]) == (1, 5)
    for seed in range(5):
        _, info = env.reset(seed=seed)
        assert [info["user"], info["target"]] in tiny_world.split("test").tolist()


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            {"kind": 0, "question": 6, "items": np.zeros(10)},
            r"`question` must be in \[0, 6\), got 6",
        ),
        ({"kind": 1, "question": 0, "items": np.full(10, 12)}, r"`items` must be ids in \[0, 12\)"),
        ({"kind": 2, "question": 0, "items": np.zeros(10)}, r"`kind` must be 0 \(ask\) or 1"),
        (3, "an action must be a dict"),
        # issue 10: float ids, repeated items, missing keys, a NaN kind
        ({"kind": 1, "items": [1.0, 2.0]}, r"`items` must hold integer item ids, got dtype float64"),
        ({"kind": 1, "items": [1, 2.5]}, r"`items` must hold integer item ids"),
        ({"kind": 1, "items": [3, 5, 3, 7]}, r"`items` lists item 3 more than once"),
        ({"kind": 1, "question": 0}, r"a recommend action \(kind 1\) needs an 'items' key"),
        ({"kind": 0, "items": [1]}, r"an ask action \(kind 0\) needs a 'question' key"),
        ({"kind": float("nan"), "items": [1]}, r"`kind` must be an integer, got nan \(float\)"),
        ({"kind": 0, "question": 1.7}, r"`question` must be an integer, got 1\.7"),
        ({"kind": True, "question": 1}, r"`kind` must be an integer, got the boolean True"),
        ({"kind": 1, "items": [[1, 2], [3]]}, r"`items` must be a list of item ids"),
        ({"kind": 1, "items": []}, r"`items` must list 1 to 10 item ids, got shape \(0,\)"),
    ],
)
def test_invalid_actions_raise_clear_errors(tiny_world, action, message):
    env = ConversationalRecEnv(tiny_world)
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=message):
        env.step(action)


def test_padding_repeats_are_one_shorter_list(tiny_world):
    env = ConversationalRecEnv(tiny_world, rec_size=4)
    env.reset(seed=0, options={"split": "test", "index": 0})  # target 8
    padded = env.unwrapped.recommend([1, 2])
    assert padded["items"].tolist() == [1, 2, 2, 2]
    _, _, _, _, info = env.step({"kind": 1, "items": [1, 2, 2, 2]})
    assert not info["success"]
    with pytest.raises(InvalidActionError, match="lists item 2 more than once"):
        env.unwrapped.recommend([2, 1, 2])
    with pytest.raises(InvalidActionError, match="must hold integer item ids"):
        env.unwrapped.recommend([8.0])


def test_bad_reset_options_and_config(tiny_world):
    env = ConversationalRecEnv(tiny_world)
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(options={"usr": 1})
    with pytest.raises(ConfigError, match=r"session `index` must be in \[0, 3\)"):
        env.reset(options={"split": "test", "index": 3})
    with pytest.raises(Exception, match="no split 'dev'"):
        ConversationalRecEnv(tiny_world, split="dev")
    with pytest.raises(InvalidActionError, match=r"`target` must be in \[0, 12\)"):
        env.reset(options={"user": 0, "target": 99})


def test_hdcg_of_known_trajectories():
    # Success at the agent's first action (turn 2), rank 1: the maximum, 1.
    assert hdcg(2, 1) == pytest.approx(1.0)
    # Success at turn 5 (t = 4), rank 2.
    expected = 1 / math.log2(6) + (1 / math.log2(5) - 1 / math.log2(6)) / math.log2(3)
    assert hdcg(5, 2) == pytest.approx(expected)
    assert hdcg(0, 0) == 0.0


def test_hdcg_of_a_played_session(tiny_world):
    env = _env(tiny_world, opening=0)
    env.reset(seed=0, options={"user": 0, "target": 3})
    env.step(env.ask(1))
    *_, info = env.step(env.recommend([2, 0, 3]))
    assert info["success"] and info["turn"] == 3 and info["rank"] == 3
    t = 2
    assert hdcg(info["turn"], info["rank"]) == pytest.approx(
        1 / math.log2(t + 2) + (1 / math.log2(t + 1) - 1 / math.log2(t + 2)) / 2
    )


def test_reject_filter_removes_candidates_holding_a_declined_attribute(tiny_world):
    for reject_filter, after_no in ((False, [0, 1, 2, 3, 4, 5, 6, 7]), (True, [1, 3, 5, 7])):
        env = _env(tiny_world, opening=0, reject_filter=reject_filter)
        env.reset(seed=0, options={"user": 0, "target": 7})
        # Target 7 lacks attribute 3 (held by items 0, 2, 4, 6): "no".
        obs, r, term, _, info = env.step(env.ask(3))
        assert info["rejected"] == [3] and r == pytest.approx(-0.1) and not term
        assert env.candidate_items().tolist() == after_no
        assert obs["candidates"][:8].tolist() == [int(i in after_no) for i in range(8)]
    # Exact answers never remove the target; answer noise can.
    env = _env(tiny_world, opening=0, reject_filter=True)
    env.reset(seed=0, options={"user": 0, "target": 7})
    for a in (1, 2, 3):
        env.step(env.ask(a))
    assert env.candidate_items().tolist() == [7]
    noisy = _env(tiny_world, opening=0, reject_filter=True,
                 config=TargetItemUserConfig(answer_flip_prob=1.0))
    noisy.reset(seed=0, options={"user": 0, "target": 0})
    _, r, term, _, info = noisy.step(noisy.ask(1))  # target 0 holds 1; the flipped "no" drops it
    assert info["rejected"] == [1] and 0 not in noisy.candidate_items()


def test_enumerated_reject_filter(tiny_enum_world):
    env = _env(tiny_enum_world, opening=0, reject_filter=True)
    env.reset(seed=0, options={"user": 0, "target": 5})
    # Parent 1 = {2, 3}; target 5 holds 2 only: 3 is declined and its holders leave.
    env.step(env.ask(1))
    assert env.candidate_items().tolist() == [1, 5]


def test_rewards_follow_the_users_acceptance_and_success_the_target(tiny_world):
    from recoworld.users.target_item import TargetItemUser

    class TakesAnything(TargetItemUser):
        def judge(self, items, rng):
            super().judge(items, rng)
            return True

    env = ConversationalRecEnv(tiny_world, user=TakesAnything(tiny_world))
    env.reset(seed=0, options={"user": 0, "target": 3})
    _, r, term, trunc, info = env.step(env.recommend([0, 1]))
    assert term and not trunc and r == pytest.approx(1.0)
    assert info["recommendation_accepted"] and not info["success"] and info["rank"] == 0
    env.reset(seed=0, options={"user": 0, "target": 3})
    _, r, term, _, info = env.step(env.recommend([0, 3]))
    assert info["recommendation_accepted"] and info["success"] and info["rank"] == 2


def test_action_space_samples_are_actions_the_env_takes(tiny_world):
    """The env refuses repeated items; its action space never samples one (check_env steps them)."""
    env = ConversationalRecEnv(tiny_world)
    env.action_space.seed(3)
    env.reset(seed=0)
    for _ in range(300):
        action = env.action_space.sample()
        items = action["items"]
        head = items[: np.flatnonzero(items != items[-1]).max(initial=-1) + 2]
        assert len(set(head.tolist())) == head.size, items
        assert action in env.action_space
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
