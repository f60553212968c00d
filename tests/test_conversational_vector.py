"""The batched conversational env: N conversations in arrays equal N single envs, step by step."""

from __future__ import annotations

import json
import zlib
from typing import Any

import gymnasium
import numpy as np
import pytest
from crs_helpers import enumerated_world
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from llm_server import fake_endpoint, oracle_reply
from llm_server import tiny_world as llm_tiny_world

import recoworld  # noqa: F401  (registers the ids)
from recoworld.datasets.synthetic import default_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs import ConversationalRecEnv, ConversationalVectorEnv
from recoworld.envs import conversational_vector as cv
from recoworld.errors import ConfigError, InvalidActionError
from recoworld.registration import CONVERSATIONAL_IDS
from recoworld.users import TargetItemUser, TargetItemUserConfig
from recoworld.users.conversational_batch import PerSlotUsers
from recoworld.users.llm import LLMClient, LLMClientConfig, LLMConversationalUser, ResponseCache

NOISY = TargetItemUserConfig(answer_flip_prob=0.15, leave_prob=0.1)
OBS_KEYS = ("user", "turn", "accepted", "rejected", "asked", "candidates")
INFO_KEYS = ("turn", "candidate_count", "success", "rank", "user", "target")


def _actions(obs: dict[str, Any], n_q: int, rec_size: int, rng: np.random.Generator) -> dict[str, Any]:
    """A random mix of questions and recommendations drawn from each slot's candidates."""
    n = len(obs["user"])
    kind = (rng.random(n) < 0.35).astype(np.int64)
    question = rng.integers(n_q, size=n)
    items = np.zeros((n, rec_size), dtype=np.int64)
    for i in range(n):
        cand = np.flatnonzero(obs["candidates"][i])
        k = int(rng.integers(1, rec_size + 1))
        pick = list(rng.choice(cand, size=min(k, cand.size), replace=False)) if cand.size else [0]
        if rng.random() < 0.2:  # sometimes a non-candidate first
            others = np.setdiff1d(np.arange(len(obs["candidates"][i])), pick)
            pick = [int(rng.choice(others)), *pick][:rec_size]
        items[i] = pick[-1]  # a shorter list is padded by repeating its last id
        items[i, : len(pick)] = pick
    return {"kind": kind, "question": question, "items": items}


def _row(action: dict[str, Any], i: int) -> dict[str, Any]:
    return {k: np.asarray(v)[i] for k, v in action.items()}


def _assert_same(vec_obs, vec_info, single_obs, single_info, i: int) -> None:
    for key in OBS_KEYS:
        np.testing.assert_array_equal(np.asarray(vec_obs[key][i]), np.asarray(single_obs[key]), key)
    for key in INFO_KEYS:
        assert vec_info["_" + key][i]
        assert vec_info[key][i] == single_info[key], key


def _compare(
    world: AttributeGraphWorld,
    single_users: list[Any] | None,
    vec_user: Any,
    steps: int,
    seed: int = 3,
    user_config: TargetItemUserConfig | None = None,
) -> dict[str, int]:
    """Play ``steps`` vector steps and the same actions on single envs seeded seed+i; compare all."""
    n = 4 if single_users is None else len(single_users)
    singles = [
        ConversationalRecEnv(
            world,
            user=None if single_users is None else single_users[i],
            user_config=user_config,
        )
        for i in range(n)
    ]
    vec = ConversationalVectorEnv(n, world=world, user=vec_user, user_config=user_config)
    obs, info = vec.reset(seed=seed)
    s_out = [env.reset(seed=seed + i) for i, env in enumerate(singles)]
    for i in range(n):
        _assert_same(obs, info, *s_out[i], i)
        assert vec.accepted(i) == s_out[i][1]["accepted"]
    rng = np.random.default_rng(99)
    ended = np.zeros(n, dtype=bool)
    seen = {"success": 0, "empty": 0, "horizon": 0, "left": 0}
    for _ in range(steps):
        action = _actions(obs, world.n_questions, vec.rec_size, rng)
        obs, reward, term, trunc, info = vec.step(action)
        for i, env in enumerate(singles):
            if ended[i]:  # next-step autoreset: the slot starts its next session, reward 0
                s_obs, s_info = env.reset()
                assert reward[i] == 0.0 and not term[i] and not trunc[i]
            else:
                s_obs, s_r, s_term, s_trunc, s_info = env.step(_row(action, i))
                assert (reward[i], term[i], trunc[i]) == (s_r, s_term, s_trunc)
                assert vec.rejected(i) == s_info["rejected"]
                if s_term or s_trunc:
                    kind = (
                        "success" if s_info["success"]
                        else "empty" if s_info["candidate_count"] == 0
                        else "horizon" if s_trunc
                        else "left"
                    )
                    seen[kind] += 1
            _assert_same(obs, info, s_obs, s_info, i)
            assert vec.accepted(i) == s_info["accepted"]
            if s_info.get("user_info"):
                for key, value in s_info["user_info"].items():
                    assert info["user_info"][key][i] == value, key
        ended = term | trunc
    return seen


@pytest.mark.parametrize("config", [None, NOISY], ids=["exact", "noisy-impatient"])
def test_binary_world_equals_single_envs_across_episode_ends(config):
    seen = _compare(default_world(), None, None, steps=120, user_config=config)
    assert seen["success"] > 0 and seen["horizon"] > 0  # every way a session ends, crossed
    if config is not None:
        assert seen["left"] > 0 and seen["empty"] > 0


@pytest.mark.parametrize("config", [None, NOISY], ids=["exact", "noisy-impatient"])
def test_enumerated_world_equals_single_envs_across_episode_ends(config):
    seen = _compare(enumerated_world(), None, None, steps=120, user_config=config)
    assert seen["success"] > 0
    assert seen["horizon"] > 0 if config is None else seen["left"] > 0 and seen["empty"] > 0


def _flaky_oracle(body: dict[str, Any]) -> str:
    """The scripted perfect user, answering garbage to about one request in four."""
    key = json.dumps(body["messages"]) + str(body.get("seed"))
    return "not an answer" if zlib.crc32(key.encode()) % 4 == 0 else oracle_reply(body)


@pytest.mark.parametrize("question_mode", ["binary", "enumerated"])
def test_llm_user_answers_a_batch_as_single_users_do_and_replays(question_mode, tmp_path):
    world = llm_tiny_world(question_mode)
    path = tmp_path / "vector.sqlite"
    with fake_endpoint(_flaky_oracle) as ep:
        config = LLMClientConfig(base_url=ep.base_url, max_retries=0)
        with LLMClient(config) as alone, LLMClient(config, ResponseCache(path)) as batch:
            singles = [LLMConversationalUser(world, alone) for _ in range(3)]
            seen = _compare(world, singles, LLMConversationalUser(world, batch), steps=12)
            assert batch.server_calls == alone.server_calls > 0  # the same requests, batched
    assert seen["success"] > 0  # sessions ended and restarted
    assert sum(u.stats["invalid_responses"] for u in singles) > 0  # garbage met, counted alike
    # Without a server, single users and the batch replay the batch's recording alike.
    dead = LLMClientConfig(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with LLMClient(dead, ResponseCache(path, "replay")) as c:
        singles = [LLMConversationalUser(world, c) for _ in range(3)]
        _compare(world, singles, LLMConversationalUser(world, c), steps=12)
        assert c.server_calls == 0


def test_per_slot_users_play_any_single_user_exactly():
    world = default_world()
    users = [TargetItemUser(world, NOISY) for _ in range(3)]
    mirror = [TargetItemUser(world, NOISY) for _ in range(3)]
    _compare(world, mirror, PerSlotUsers(users), steps=60)


@pytest.mark.parametrize("env_id", list(CONVERSATIONAL_IDS))
def test_every_conversational_id_has_a_vector_entry_point(env_id):
    vec = gymnasium.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
    assert isinstance(vec, ConversationalVectorEnv)
    assert vec.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    single = gymnasium.make(env_id)
    assert vec.single_observation_space == single.observation_space
    assert vec.observation_space == batch_space(single.observation_space, 3)
    assert vec.action_space == batch_space(single.action_space, 3)
    singles = [gymnasium.make(env_id) for _ in range(3)]
    obs, info = vec.reset(seed=5)
    for i, env in enumerate(singles):
        _assert_same(obs, info, *env.reset(seed=5 + i), i)
    assert obs in vec.observation_space
    vec.action_space.seed(0)
    rng = np.random.default_rng(0)
    ended = np.zeros(3, dtype=bool)
    for _ in range(20):
        action = vec.action_space.sample()
        # the space cannot say "distinct items"; the envs refuse repeats, so draw distinct ids
        k = action["items"].shape[1]
        action["items"] = rng.random((3, single.unwrapped.world.n_items)).argsort(axis=1)[:, :k]
        obs, reward, term, trunc, info = vec.step(action)
        for i, env in enumerate(singles):
            if ended[i]:
                s_obs, s_info = env.reset()
            else:
                s_obs, s_r, s_term, s_trunc, s_info = env.step(_row(action, i))
                assert (reward[i], term[i], trunc[i]) == (s_r, s_term, s_trunc)
            _assert_same(obs, info, s_obs, s_info, i)
        ended = term | trunc


def test_disabled_autoreset_runs_chosen_sessions_and_skips_ended_ones():
    world = default_world()
    vec = ConversationalVectorEnv(3, world=world, autoreset_mode="Disabled", split="test")
    idx = np.array([4, 0, 9])
    obs, info = vec.reset(seed=0, options={"index": idx})
    pairs = world.split("test")
    np.testing.assert_array_equal(info["user"], pairs[idx, 0])
    np.testing.assert_array_equal(info["target"], pairs[idx, 1])
    # slot 1 recommends its target and ends; the others ask
    items = np.zeros((3, 10), dtype=np.int64)
    items[1, 0] = info["target"][1]
    action = {"kind": np.array([0, 1, 0]), "question": np.array([0, 0, 0]), "items": items}
    obs, reward, term, trunc, info = vec.step(action)
    assert term.tolist() == [False, True, False] and reward[1] == 1.0 and info["rank"][1] == 1
    turn_before = int(obs["turn"][1])
    obs, reward, term, trunc, info = vec.step(action)  # slot 1 is skipped, not reset
    assert not info["_turn"][1] and reward[1] == 0.0 and not term[1] and not trunc[1]
    assert int(obs["turn"][1]) == turn_before and info["_turn"][0]
    mask = np.array([False, True, False])
    obs, info = vec.reset(options={"reset_mask": mask, "index": np.array([0, 7, 0])})
    assert info["_target"].tolist() == [False, True, False]
    assert info["target"][1] == pairs[7, 1] and obs["turn"][1] == 1 and obs["turn"][0] == 3


def test_observations_are_read_only_views_unless_copied():
    vec = ConversationalVectorEnv(2, world=default_world())
    obs, _ = vec.reset(seed=0)
    with pytest.raises(ValueError, match="read-only"):
        obs["candidates"][0, 0] = 1
    copied = ConversationalVectorEnv(2, world=default_world(), copy=True)
    obs2, _ = copied.reset(seed=0)
    before = obs2["asked"].copy()
    copied.step({"kind": np.zeros(2, np.int64), "question": np.array([1, 2]), "items": np.zeros((2, 10), np.int64)})
    np.testing.assert_array_equal(obs2["asked"], before)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"kind": np.array([0, 2]), "question": np.zeros(2, np.int64)}, "sub-environment 1: `kind`"),
        ({"kind": np.zeros(2, np.int64), "question": np.array([0, 40])}, "sub-environment 1: `question`"),
        ({"kind": np.ones(2, np.int64), "question": np.zeros(2, np.int64), "bad_item": 1500}, "sub-environment 0: `items`"),
        ({"kind": np.zeros(3, np.int64), "question": np.zeros(2, np.int64)}, "shape"),
        ({"kind": np.zeros(2), "question": np.zeros(2, np.int64)}, "integers"),
    ],
)
def test_invalid_actions_name_the_sub_environment(action, message):
    vec = ConversationalVectorEnv(2, world=default_world())
    vec.reset(seed=0)
    items = np.zeros((2, 10), dtype=np.int64)
    if "bad_item" in action:
        items[0, 3] = action.pop("bad_item")
    with pytest.raises(InvalidActionError, match=message):
        vec.step({**action, "items": items})


@pytest.mark.parametrize("make_world", [default_world, enumerated_world], ids=["binary", "enumerated"])
def test_without_attribute_bit_rows_the_search_path_plays_the_same(make_world, monkeypatch):
    monkeypatch.setattr(cv, "_MAX_BIT_ROWS_BYTES", 0)  # a world too large for the bit rows
    assert ConversationalVectorEnv(2, world=make_world())._attr_bits.shape[0] == 0
    seen = _compare(make_world(), None, None, steps=120, user_config=NOISY)
    assert seen["success"] > 0 and seen["left"] > 0 and seen["empty"] > 0


def test_repeated_items_are_refused_where_read_and_padding_counts_once():
    vec = ConversationalVectorEnv(3, world=default_world())
    vec.reset(seed=0)
    items = np.array([[4, 5, 6, 6, 6], [7, 8, 7, 9, 9], [1, 2, 1, 2, 1]], dtype=np.int64)
    ask_row_2 = {"kind": np.array([1, 1, 0]), "question": np.zeros(3, np.int64)}
    with pytest.raises(InvalidActionError, match=r"sub-environment 1: `items` lists an item more"):
        vec.step({**ask_row_2, "items": items})
    items[1] = [7, 8, 9, 9, 9]  # row 0 and 1: end padding; row 2 asks, its items are not read
    vec.step({**ask_row_2, "items": items})


def test_bad_settings_and_options():
    world = default_world()
    with pytest.raises(ConfigError, match="num_envs"):
        ConversationalVectorEnv(0, world=world)
    with pytest.raises(ConfigError, match="autoreset_mode"):
        ConversationalVectorEnv(2, world=world, autoreset_mode=AutoresetMode.SAME_STEP)
    with pytest.raises(ConfigError, match="no batched form"):
        ConversationalVectorEnv(2, world=world, user=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="holds 1 users"):
        ConversationalVectorEnv(2, world=world, user=[TargetItemUser(world)])
    vec = ConversationalVectorEnv(2, world=world)
    with pytest.raises(InvalidActionError, match="before reset"):
        vec.step({"kind": np.zeros(2, np.int64), "question": np.zeros(2, np.int64), "items": np.zeros((2, 10), np.int64)})
    with pytest.raises(ConfigError, match="unknown reset option"):
        vec.reset(options={"indx": 0})
    with pytest.raises(ConfigError, match="num_envs=2 entries"):
        vec.reset(options={"index": np.arange(3)})
    with pytest.raises(ConfigError, match=r"index` must be in \[0, 5789\)"):
        vec.reset(options={"index": 10**6})
    with pytest.raises(ConfigError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.ones(2, dtype=np.int64)})
