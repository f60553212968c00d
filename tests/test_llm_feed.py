"""Feed LLM users (full and hybrid), the instruction observation wrapper, and the baseline agent."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from llm_server import fake_endpoint

from recoworld.datasets.feed_world import synthetic_feed_world
from recoworld.envs import FeedEnv, FeedSettings, FeedVectorEnv
from recoworld.errors import ConfigError
from recoworld.users.feed.interface import FeedUserModel
from recoworld.users.feed.statistical import StatisticalFeedUser
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.feed import WATCH_BUCKETS, HybridFeedUser, LLMFeedUser, LLMFeedUserConfig

WORLD = synthetic_feed_world(n_users=30, n_items=300, n_categories=6, seed=1)
INSTRUCTION = "fewer category_1 clips, more category_2"


def scripted(watch: str = "skip", leave_after: int = 99) -> Any:
    """Review every video with ``watch``; leave at the ``leave_after``-th review."""
    count = {"n": 0}

    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if '"instruction"' in prompt:
            return json.dumps({"instruction": INSTRUCTION})
        count["n"] += 1
        leave = "leave" if count["n"] >= leave_after else "stay"
        return json.dumps({"watch": watch, "like": "no", "leave": leave, "mindset": f"m{count['n']}"})

    return reply


def test_llm_feed_user_in_the_env_reviews_mindset_instruction_leave() -> None:
    with fake_endpoint(scripted("skip", leave_after=4)) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            user = LLMFeedUser(client)
            assert isinstance(user, FeedUserModel)
            env = FeedEnv(FeedSettings(world=WORLD), user_model=user)
            env.reset(seed=0)
            infos = []
            for _ in range(10):
                _, reward, terminated, truncated, info = env.step(0)
                infos.append(info)
                if terminated:
                    break
    assert [i["mindset"] for i in infos] == ["m1", "m2", "m3", "m4"]
    assert all(i["skip"] and 0.0 <= i["watch_ratio"] < 0.05 for i in infos)
    # two skips in a row -> an instruction at the 2nd video; the next is due 3 videos later
    assert [bool(i["new_instruction"]) for i in infos] == [False, True, False, False]
    assert infos[1]["instruction"] == INSTRUCTION and infos[-1]["instruction"] == INSTRUCTION
    assert terminated and infos[-1]["left"] and infos[-1]["return_days"] >= 1
    assert not any(i["invalid_response"] for i in infos)
    persona = ep.requests[0]["messages"][0]["content"]
    assert "short-video app" in persona and "category_" in persona
    review = ep.requests[0]["messages"][1]["content"]
    assert "You just opened the app." in review and '"watched twice"' in review
    assert ep.requests[0]["response_format"]["schema"]["properties"]["watch"]["enum"] == [
        b[0] for b in WATCH_BUCKETS
    ]


def test_watch_bucket_maps_into_its_ratio_range() -> None:
    with fake_endpoint(scripted("most of it")) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            user = LLMFeedUser(client)
            user.bind(WORLD, 2)
            user.reset(np.array([0, 1]), np.array([3, 4]))
            u = np.array([[0.1, 0.0, 0.5], [0.2, 0.5, 0.5]])
            out = user.respond(np.array([0, 1]), np.array([10, 11]), u)
    np.testing.assert_allclose(out.watch_ratio, [0.6, 0.75], rtol=1e-6)
    np.testing.assert_allclose(out.watch_time, out.watch_ratio * WORLD.catalogue.duration_s[[10, 11]])
    assert not out.skip.any() and not out.leave.any() and (out.return_days == 0).all()
    # both users are asked concurrently (arrival order free); each seed comes from its uniform
    assert sorted(b["seed"] for b in ep.requests) == [int(0.1 * (2**31 - 1)), int(0.2 * (2**31 - 1))]


def test_garbage_reviews_are_flagged_skips_and_counted() -> None:
    with fake_endpoint(lambda b: "lol") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            env = FeedEnv(FeedSettings(world=WORLD), user_model=LLMFeedUser(client))
            env.reset(seed=1)
            infos = [env.step(0)[-1] for _ in range(3)]
    assert [bool(i["invalid_response"]) for i in infos] == [True, True, True]
    assert [int(i["invalid_responses"]) for i in infos] == [1, 2, 3]
    assert all(i["skip"] and not i["like"] and not i["left"] for i in infos)
    assert all(i["watch_bucket"] == "skip" for i in infos)


def test_on_invalid_raise_and_no_expected_outcome() -> None:
    from recoworld.errors import LLMResponseError

    with fake_endpoint(lambda b: "lol") as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            user = LLMFeedUser(client, LLMFeedUserConfig(on_invalid="raise"))
            env = FeedEnv(FeedSettings(world=WORLD), user_model=user)
            env.reset(seed=1)
            with pytest.raises(LLMResponseError, match="did not parse after 2 attempt"):
                env.step(0)
            with pytest.raises(ConfigError, match="no true expected outcomes"):
                user.expected(np.array([0]), np.zeros((1, 4), dtype=np.intp))
    with pytest.raises(ConfigError, match="`disengaged_ratio` must be in"):
        LLMFeedUserConfig(disengaged_ratio=0.0)


def test_hybrid_decides_statistically_and_writes_instructions() -> None:
    rng = np.random.default_rng(5)
    slots, users, items = np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([5, 6, 7])
    with fake_endpoint(scripted()) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            hybrid = HybridFeedUser(client, config=LLMFeedUserConfig(disengaged_ratio=1.0))
            plain = StatisticalFeedUser()
            assert hybrid.n_uniforms == plain.n_uniforms + 1
            for m in (hybrid, plain):
                m.bind(WORLD, 3)
                m.reset(slots, users)
            streak, last, calls = np.zeros(3, int), np.full(3, -100), 0
            for step in range(4):
                u = rng.random((3, hybrid.n_uniforms))
                a = hybrid.respond(slots, items + step, u)
                b = plain.respond(slots, items + step, u[:, :-1])
                np.testing.assert_array_equal(a.watch_ratio, b.watch_ratio)
                np.testing.assert_array_equal(a.leave, b.leave)
                assert a.info is not None
                # the documented trigger, recomputed from the statistical responses
                streak = np.where(b.watch_ratio < 1.0, streak + 1, 0)
                due = ((streak >= 2) | b.leave) & (step + 1 - last >= 3)
                last = np.where(due, step + 1, last)
                calls += int(due.sum())
                assert a.info["new_instruction"].tolist() == due.tolist()
            assert calls >= 2
            e = hybrid.expected(slots, np.tile(items, (3, 1)))
            f = plain.expected(slots, np.tile(items, (3, 1)))
            np.testing.assert_array_equal(e.watch_ratio, f.watch_ratio)
    assert len(ep.requests) == calls  # LLM called only for the instructions


def test_vector_env_asks_all_users_concurrently() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    reply = scripted("about half")

    def slow(body: dict[str, Any]) -> str:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return str(reply(body))

    with fake_endpoint(slow) as ep:
        cfg = LLMClientConfig(base_url=ep.base_url, max_concurrency=4)
        with LLMClient(cfg) as client:
            venv = FeedVectorEnv(4, FeedSettings(world=WORLD), user_model=LLMFeedUser(client))
            venv.reset(seed=0)
            _, _, _, _, info = venv.step(np.zeros(4, dtype=np.int64))
    assert state["peak"] == 4
    assert list(info["watch_bucket"]) == ["about half"] * 4
    assert ((info["watch_ratio"] >= 0.25) & (info["watch_ratio"] < 0.6)).all()


def test_instruction_observation_and_following_agent() -> None:
    from recoworld.agents.instruction_following import InstructionFollowingAgent
    from recoworld.envs.feed_instruction import InstructionObservation
    from recoworld.users.llm.embedding import SentenceEmbedder

    embedder = SentenceEmbedder()
    with fake_endpoint(scripted("skip")) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url)) as client:
            env = InstructionObservation(
                FeedEnv(FeedSettings(world=WORLD), user_model=LLMFeedUser(client)), embedder)
            obs, info = env.reset(seed=0)
            assert info["instruction"] == "" and not obs["instruction"].any()
            assert env.observation_space.contains(obs)
            agent = InstructionFollowingAgent(WORLD, embedder, weight=100.0)
            np.testing.assert_array_equal(  # no instruction yet: plain retrieval ranking
                agent.action_dist(obs), np.eye(len(obs["candidate_ids"]))[np.argmax(obs["candidates"][:, 0])]
            )
            obs, *_ = env.step(0)
            obs, _, _, _, info = env.step(0)
            assert info["new_instruction"] and info["instruction"] == INSTRUCTION
            np.testing.assert_allclose(obs["instruction"], embedder.encode([INSTRUCTION])[0], atol=1e-6)
            assert env.observation_space.contains(obs)
            obs, _, _, _, info = env.step(0)
            assert info["instruction"] == INSTRUCTION and obs["instruction"].any()
    # the agent prefers the candidate whose category text is closest to the instruction
    cats = WORLD.catalogue.category[obs["candidate_ids"]]
    sim = embedder.encode(list(WORLD.catalogue.category_names))[cats] @ obs["instruction"]
    assert agent.predict(obs) == int(np.argmax(obs["candidates"][:, 0] + 100.0 * sim))
    with pytest.raises(ConfigError, match="no 'instruction' key"):
        agent.predict({k: v for k, v in obs.items() if k != "instruction"})
    assert gym.spaces.Box  # gymnasium imported for the space check above
